//! Field values drawn for new records: categories, channels, services, names.

use crate::rng::Rng;
use serde_json::{Value, json};

pub const CATEGORIES: [&str; 8] = [
    "environment",
    "roads_and_facilities",
    "safety",
    "elderly_and_disabled",
    "neighbour_dispute",
    "property_management",
    "employment_and_welfare",
    "other",
];
const CATEGORY_WEIGHTS: [f64; 8] = [3.0, 2.5, 1.0, 1.5, 1.0, 2.0, 0.7, 0.8];
pub const CHANNELS: [&str; 6] = ["qr_code", "needs_meeting", "home_visit", "micro_wish", "liaison_group", "hotline"];
const CHANNEL_WEIGHTS: [f64; 6] = [3.0, 1.0, 1.5, 1.0, 2.0, 1.5];
pub const SERVICES: [&str; 9] = [
    "home_visit",
    "escort_to_hospital",
    "meal_delivery",
    "repair",
    "cleaning",
    "tutoring",
    "legal_advice",
    "epidemic_support",
    "other",
];
/// The name of a community's grid `n` (1-based), as its records name it.
pub fn grid_name(n: u32) -> String {
    format!("第{n}网格")
}

const SUMMARIES: [&str; 6] = ["路灯不亮", "路面鼓包", "楼道堆物", "噪音扰民", "电梯故障", "垃圾清运不及时"];
const SURNAMES: [&str; 8] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵"];
pub const COLOURS: [&str; 7] = ["red", "orange", "yellow", "green", "cyan", "blue", "purple"];
pub const TEAMS: [&str; 9] = [
    "党员先锋队",
    "巾帼志愿队",
    "青年突击队",
    "银发互助队",
    "法律服务队",
    "医疗服务队",
    "环保志愿队",
    "文体志愿队",
    "平安巡逻队",
];

pub fn category(rng: &mut Rng) -> &'static str {
    CATEGORIES[rng.weighted(&CATEGORY_WEIGHTS)]
}

pub fn channel(rng: &mut Rng) -> &'static str {
    CHANNELS[rng.weighted(&CHANNEL_WEIGHTS)]
}

pub fn summary(rng: &mut Rng, n: u64) -> Value {
    json!(format!("{} #{n}", rng.pick(&SUMMARIES)))
}

pub fn person(rng: &mut Rng) -> Value {
    json!(format!("{}{}", rng.pick(&SURNAMES), ["先生", "女士", "阿姨", "师傅"][rng.range(0, 3) as usize]))
}

pub fn phone(rng: &mut Rng) -> Value {
    json!(format!("13{:09}", rng.range(0, 999_999_999)))
}
