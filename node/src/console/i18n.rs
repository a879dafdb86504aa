//! The console's words, Chinese first with English beside: the operators of a street
//! office read Chinese; an engineer from elsewhere switches to English. The language is
//! a cookie (`linli_lang`), set by the switch in the header.
//!
//! Values of the registries' enums (categories, statuses, kinds) are shown by their
//! Chinese names where this table knows them, and as stored otherwise.

/// The language a page is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

pub const LANG_COOKIE: &str = "linli_lang";

impl Lang {
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
    /// The `lang` attribute of the page: fonts and line breaking follow it.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The words for `key`; the key itself where none are known (a gap shows, it does
    /// not break the page).
    pub fn t(self, key: &'static str) -> &'static str {
        match WORDS.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => key,
        }
    }

    /// A registry's enum value (a category, a status, a kind) in this language.
    pub fn value(self, value: &str) -> &str {
        match (self, VALUES.iter().find(|(v, _)| *v == value)) {
            (Lang::Zh, Some((_, zh))) => zh,
            _ => value,
        }
    }
}

/// (key, Chinese, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("console", "邻里运营台", "linli console"),
    ("switch", "English", "中文"),
    ("overview", "总览", "Overview"),
    ("overdue", "超期诉求", "Overdue"),
    ("records", "台账明细", "Records"),
    ("resolution", "办结时长", "Resolution time"),
    ("tasks", "点单派单", "Task funnel"),
    ("projects", "民生微实事", "Micro-projects"),
    ("hours", "志愿服务", "Volunteer hours"),
    ("sites", "党群阵地", "Service sites"),
    ("links", "链路", "Links"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("signed_in_as", "当前身份", "Signed in as"),
    ("ticket", "登录票据", "Sign-in ticket"),
    (
        "ticket_help",
        "在命令行用您的操作员证书生成票据，粘贴到下面（15 分钟内有效，只能使用一次）：",
        "Make a ticket with your operator's certificate on the command line and paste it below (valid 15 minutes, once):",
    ),
    ("refused", "无权查看", "Refused"),
    ("bad_request", "请求有误", "Bad request"),
    ("not_found", "没有这个页面", "No such page"),
    ("unavailable", "暂时无法回答", "Not available now"),
    ("back", "返回总览", "Back to the overview"),
    ("open_requests", "在办诉求（街道 × 类别）", "Open requests (street × category)"),
    ("street", "街道", "Street"),
    ("community", "社区", "Community"),
    ("category", "类别", "Category"),
    ("status", "状态", "Status"),
    ("total", "合计", "Total"),
    ("overdue_total", "超期诉求", "Overdue requests"),
    ("oldest", "最久超期", "Oldest overdue"),
    ("none", "无", "none"),
    ("daily", "每日受理与办结", "Intake and resolutions per day"),
    ("intake", "受理", "Intake"),
    ("resolved", "办结", "Resolved"),
    ("today", "今日", "Today"),
    ("age", "超期时长", "Overdue for"),
    ("deadline", "期限", "Deadline"),
    ("record", "记录", "Record"),
    ("shown_of", "显示 {shown} 条，共 {total} 条", "{shown} shown of {total}"),
    ("next_page", "下一页", "Next page"),
    ("first_page", "第一页", "First page"),
    ("registry", "台账", "Registry"),
    ("window", "时间窗口", "Window"),
    ("days", "天", "days"),
    ("count", "件数", "Count"),
    ("ordered", "点单", "Ordered"),
    ("dispatch", "派单", "Dispatched"),
    ("accept", "接单", "Accepted"),
    ("complete", "完成", "Completed"),
    ("step_time", "环节用时（中位数）", "Time per step (median)"),
    ("year", "年度", "Year"),
    ("budget", "预算", "Budget"),
    ("spent", "已支出", "Spent"),
    ("cap", "上限 2,000,000 元", "Cap 2,000,000 yuan"),
    ("over_cap", "超出上限", "Over the cap"),
    ("within_cap", "未超", "Within"),
    ("month", "月份", "Month"),
    ("hours_unit", "小时", "Hours"),
    ("visits", "走访", "Visits"),
    ("top_teams", "服务时长前十的队伍", "Top teams by hours"),
    ("team", "队伍", "Team"),
    ("kind", "类型", "Kind"),
    ("colour", "色彩分类", "Colour class"),
    ("silent", "失联的 V 站（24 小时未上报）", "Silent V stations (no report for 24 h)"),
    ("last_report", "最后上报", "Last report"),
    ("never", "从未", "never"),
    ("peer", "节点", "Peer"),
    ("role", "方向", "Role"),
    ("connected", "连接", "Connected"),
    ("lag_entries", "滞后（条）", "Lag (entries)"),
    ("lag_seconds", "滞后（秒）", "Lag (s)"),
    ("last_contact", "最后联系", "Last contact"),
    ("refusals", "拒绝", "Refusals"),
    ("tree", "组织树", "Tree"),
    ("yes", "是", "yes"),
    ("no", "否", "no"),
    ("child", "下级", "child"),
    ("parent", "上级", "parent"),
    ("live", "实时更新", "live"),
    ("p50", "中位数", "p50"),
    ("p90", "P90", "p90"),
    ("p99", "P99", "p99"),
    ("yuan", "元", "yuan"),
];

/// Chinese names of the shipped registries' enum values.
const VALUES: &[(&str, &str)] = &[
    ("environment", "环境卫生"),
    ("roads_and_facilities", "道路设施"),
    ("safety", "安全隐患"),
    ("elderly_and_disabled", "为老助残"),
    ("neighbour_dispute", "邻里纠纷"),
    ("property_management", "物业管理"),
    ("employment_and_welfare", "就业保障"),
    ("other", "其他"),
    ("reported", "已受理"),
    ("dispatched", "已派单"),
    ("accepted", "已接单"),
    ("resolved", "已办结"),
    ("closed", "已销号"),
    ("rejected", "不予受理"),
    ("district_centre", "区党群服务中心"),
    ("community_centre", "社区党群服务中心"),
    ("park_centre", "园区党群服务中心"),
    ("v_station", "V 站"),
    ("micro_station", "微站"),
    ("open", "开放"),
    ("offline", "离线"),
    ("planned", "计划"),
    ("approved", "已批准"),
    ("in_progress", "实施中"),
    ("completed", "已完成"),
    ("cancelled", "已取消"),
    ("ordered", "已点单"),
    ("red", "红"),
    ("orange", "橙"),
    ("yellow", "黄"),
    ("green", "绿"),
    ("cyan", "青"),
    ("blue", "蓝"),
    ("purple", "紫"),
    ("*", "全部"),
    ("-", "未分类"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages_and_none_is_defined_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for (key, zh, en) in WORDS {
            assert!(seen.insert(*key), "`{key}` twice");
            assert!(!zh.is_empty() && !en.is_empty(), "{key}");
        }
        assert_eq!(Lang::Zh.t("overdue"), "超期诉求");
        assert_eq!(Lang::En.t("overdue"), "Overdue");
        assert_eq!(Lang::Zh.value("safety"), "安全隐患");
        assert_eq!(Lang::En.value("safety"), "safety");
        assert_eq!(Lang::Zh.value("not-listed"), "not-listed");
    }
}
