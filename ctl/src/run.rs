//! Runs one linlictl command against a server.

use super::CtlError;
use super::answers;
use super::args::{Cli, Command, Dim, QueryCmd, Where, WriteCmd};
use super::table::{Cell, Format, Table, render};
use super::time::parse_time;
use linli_proto::v1;
use linli_proto::v1::query_client::QueryClient;
use linli_proto::v1::query_request::Query as Q;
use linli_proto::v1::registry_client::RegistryClient;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Runs `cli`, writing its answers to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CtlError> {
    if let Command::Certs { out: dir, ca_name, nodes } = &cli.command {
        return super::certs::write(dir, ca_name, nodes, out);
    }
    if let Command::ConsoleTicket { node, minutes } = &cli.command {
        return console_ticket(&cli, node, *minutes, out);
    }
    let scheme = if cli.tls_dir.is_some() { "https" } else { "http" };
    let addr = if cli.addr.contains("://") { cli.addr.clone() } else { format!("{scheme}://{}", cli.addr) };
    let tls = tls_config(&cli, &addr)?;
    let timeout = Duration::from_millis(cli.timeout_ms.max(1));
    // Arguments are checked before anything is sent.
    let query = match &cli.command {
        Command::Query(q) | Command::Watch { query: q, .. } => Some(request(q)?),
        _ => None,
    };
    let plaintext = tls.is_none();
    let channel = connect(&addr, tls, timeout).await?;
    let fail = |status: tonic::Status| {
        // A server on mutual TLS drops a plaintext HTTP/2 connection without a word:
        // the call fails as a transport error.
        let transport = ["h2 protocol error", "transport error"].iter().any(|t| status.message().contains(t));
        let dropped =
            plaintext && (transport || matches!(status.code(), tonic::Code::Unknown | tonic::Code::Unavailable));
        match CtlError::server(&cli.addr, status) {
            CtlError::Server { addr, code, message } if dropped => {
                let message = format!("{message} (the server may take mutual TLS only: give --tls-dir and --as)");
                CtlError::Server { addr, code, message }
            }
            CtlError::Unreachable { addr, reason } if dropped => {
                let reason = format!("{reason} (the server may take mutual TLS only: give --tls-dir and --as)");
                CtlError::Unreachable { addr, reason }
            }
            other => other,
        }
    };
    let mut queries = QueryClient::new(channel.clone());
    let tables = match cli.command {
        Command::Query(_) => {
            let reply = queries.ask(with_timeout(query.unwrap_or_default(), timeout)).await.map_err(fail)?.into_inner();
            reply.answer.as_ref().map(answers::answer).unwrap_or_default()
        }
        Command::Watch { count, .. } => {
            let mut stream = queries.watch(query.unwrap_or_default()).await.map_err(fail)?.into_inner();
            let mut printed = 0;
            while count.is_none_or(|n| printed < n) {
                let Some(reply) = stream.message().await.map_err(fail)? else { break };
                let tables = reply.answer.as_ref().map(answers::answer).unwrap_or_default();
                print(out, &watch_frame(reply.at_ms, &tables, cli.format))?;
                printed += 1;
            }
            return Ok(());
        }
        Command::Status => {
            let reply = queries.links(with_timeout(v1::LinksRequest {}, timeout)).await.map_err(fail)?.into_inner();
            answers::links(&reply)
        }
        Command::Get { key } => {
            let mut registry = RegistryClient::new(channel);
            let reply =
                registry.get(with_timeout(v1::GetRequest { record_key: key.clone() }, timeout)).await.map_err(fail)?;
            let json = reply.into_inner().record_json.ok_or(CtlError::NotFound { what: format!("record {key}") })?;
            let record: Value = serde_json::from_str(&json).map_err(|e| CtlError::Server {
                addr: cli.addr.clone(),
                code: tonic::Code::Internal,
                message: e.to_string(),
            })?;
            if cli.format == Format::Json {
                print(out, &format!("{}\n", serde_json::to_string_pretty(&record).unwrap_or_default()))?;
                return Ok(());
            }
            vec![answers::record(&record)]
        }
        Command::Where { key } => {
            let mut registry = RegistryClient::new(channel);
            let request = with_timeout(v1::WhereRequest { record_key: key }, timeout);
            answers::whereabouts(&registry.r#where(request).await.map_err(fail)?.into_inner())
        }
        Command::Backup { label } => {
            let mut registry = RegistryClient::new(channel);
            let request = with_timeout(v1::BackupRequest { label }, timeout);
            let reply = registry.backup(request).await.map_err(fail)?.into_inner();
            let mut table = Table::new("backup", &["path", "log_end", "bytes"]);
            table.push(vec![
                Cell::text(reply.path.as_str()),
                Cell::Int(reply.log_end as i64),
                Cell::Int(reply.bytes as i64),
            ]);
            vec![table]
        }
        Command::List { community, registry, limit, after } => {
            let reply = queries
                .records(with_timeout(v1::RecordsRequest { community, registry, limit, after }, timeout))
                .await
                .map_err(fail)?
                .into_inner();
            let records: Vec<Value> =
                reply.records_json.iter().filter_map(|json| serde_json::from_str(json).ok()).collect();
            let mut page = Table::new("page", &["next_after"]);
            page.push(vec![reply.next_after.map(super::table::Cell::Text).unwrap_or(super::table::Cell::Null)]);
            vec![answers::records("records", &records), page]
        }
        Command::Write { write, durable_at, wait_ms } => {
            let mut registry = RegistryClient::new(channel);
            let mut request = write_request(write)?;
            request.durable_at = match durable_at.as_deref() {
                None => v1::Tier::Unspecified as i32,
                Some(name) => {
                    let tier: linli_core::link::Tier = name.parse().map_err(|e: linli_core::link::UnknownTier| {
                        CtlError::BadArgument { arg: "--durable-at".into(), reason: e.to_string() }
                    })?;
                    linli_proto::convert::tier_to_wire(tier)
                }
            };
            request.wait_ms = wait_ms;
            // The call waits as long as the write may: the server answers within it.
            let waits = Duration::from_millis(wait_ms.unwrap_or(linli_proto::convert::WAIT_MS_DEFAULT));
            let timeout = if durable_at.is_some() { timeout.max(waits + Duration::from_secs(5)) } else { timeout };
            let reply = registry.write(with_timeout(request, timeout)).await.map_err(fail)?.into_inner();
            let mut table = Table::new("written", &["record", "seq", "hlc"]);
            table.push(vec![
                super::table::Cell::Text(reply.record_key),
                reply.seq.map(|s| super::table::Cell::Int(s as i64)).unwrap_or(super::table::Cell::Null),
                super::table::Cell::Int(reply.hlc as i64),
            ]);
            vec![table]
        }
        // Answered above, without a server.
        Command::Certs { .. } | Command::ConsoleTicket { .. } => Vec::new(),
    };
    print(out, &render(&tables, cli.format))
}

fn with_timeout<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

fn print(out: &mut dyn Write, text: &str) -> Result<(), CtlError> {
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// One answer of a watch: JSON as one line per answer (with its time), tables and CSV
/// under a `# at` line.
fn watch_frame(at_ms: i64, tables: &[Table], format: Format) -> String {
    match format {
        Format::Json => {
            let body: Value = serde_json::from_str(&render(tables, Format::Json)).unwrap_or(Value::Null);
            let mut line = serde_json::json!({ "at_ms": at_ms, "answer": body }).to_string();
            line.push('\n');
            line
        }
        _ => format!("# at {}\n{}", super::table::readable_time(at_ms), render(tables, format)),
    }
}

/// Prints a console sign-in ticket for `node`, valid `minutes`, signed as `--as`.
fn console_ticket(cli: &Cli, node: &str, minutes: u64, out: &mut dyn Write) -> Result<(), CtlError> {
    let bad = |arg: &str, reason: String| CtlError::BadArgument { arg: arg.into(), reason };
    let max = linli_tls::ticket::TICKET_LIFETIME_MS_MAX / 60_000;
    if minutes == 0 || minutes > max {
        return Err(bad("--minutes", format!("{minutes} is not in 1..={max}")));
    }
    let dir =
        cli.tls_dir.as_ref().ok_or_else(|| bad("--tls-dir", "the directory of your certificate and key".into()))?;
    let id = cli.as_id.as_deref().ok_or_else(|| bad("--as", "your operator's certificate id".into()))?;
    let pem = linli_tls::TlsFiles::in_dir(dir, id).read().map_err(|e| bad("--tls-dir", e.to_string()))?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let ticket = linli_tls::ticket::sign(&pem.cert, &pem.key, node, now_ms + minutes * 60_000)
        .map_err(|e| bad("--tls-dir", e.to_string()))?;
    print(out, &format!("{ticket}\n"))
}

/// The client's TLS from `--tls-dir` and `--as`, if given.
fn tls_config(cli: &Cli, addr: &str) -> Result<Option<ClientTlsConfig>, CtlError> {
    let Some(dir) = &cli.tls_dir else { return Ok(None) };
    let bad = |arg: &str, reason: String| CtlError::BadArgument { arg: arg.into(), reason };
    let id = cli.as_id.as_deref().ok_or_else(|| bad("--as", "with --tls-dir, whose certificate to show".into()))?;
    let pem = linli_tls::TlsFiles::in_dir(dir, id).read().map_err(|e| bad("--tls-dir", e.to_string()))?;
    Ok(Some(pem.client(cli.server_id.as_deref().unwrap_or(linli_tls::url_host(addr)))))
}

async fn connect(addr: &str, tls: Option<ClientTlsConfig>, timeout: Duration) -> Result<Channel, CtlError> {
    let mut endpoint = Endpoint::from_shared(addr.to_string())
        .map_err(|e| CtlError::BadArgument { arg: "addr".into(), reason: e.to_string() })?
        .connect_timeout(timeout);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| CtlError::BadArgument { arg: "--tls-dir".into(), reason: e.to_string() })?;
    }
    endpoint.connect().await.map_err(|e| {
        // The transport error's own text is "transport error"; its source says why.
        let reason = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
        CtlError::Unreachable { addr: addr.to_string(), reason }
    })
}

fn filter(at: &Where) -> v1::QueryFilter {
    v1::QueryFilter {
        street: at.street.clone(),
        community: at.community.clone(),
        category: at.category.clone(),
        status: at.status.clone(),
    }
}

fn has(dims: &[Dim], dim: Dim) -> bool {
    dims.contains(&dim)
}

fn refuse_dims(dims: &[Dim], allowed: &[Dim]) -> Result<(), CtlError> {
    match dims.iter().find(|d| !allowed.contains(d)) {
        Some(dim) => Err(CtlError::BadArgument {
            arg: "by".into(),
            reason: format!("this query does not count by {dim:?}").to_lowercase(),
        }),
        None => Ok(()),
    }
}

/// The request of a query subcommand.
pub fn request(q: &QueryCmd) -> Result<v1::QueryRequest, CtlError> {
    let at_of = |at: &Where| at.at.as_deref().map(|t| parse_time("at", t)).transpose();
    let (at, query) = match q {
        QueryCmd::Open { at, by } => (
            at,
            Q::Open(v1::OpenQuery {
                by_street: has(by, Dim::Street),
                by_community: has(by, Dim::Community),
                by_category: has(by, Dim::Category),
                by_status: has(by, Dim::Status),
            }),
        ),
        QueryCmd::OpenList { at, limit, after } => {
            (at, Q::OpenList(v1::OpenListQuery { limit: *limit, after: after.clone() }))
        }
        QueryCmd::Overdue { at, limit } => (at, Q::Overdue(v1::OverdueQuery { limit: *limit })),
        QueryCmd::Resolution { at, from, to, by } => {
            refuse_dims(by, &[Dim::Street, Dim::Category])?;
            let from_ms = from.as_deref().map(|t| parse_time("from", t)).transpose()?;
            let to_ms = to.as_deref().map(|t| parse_time("to", t)).transpose()?;
            let by_street = has(by, Dim::Street);
            let by_category = has(by, Dim::Category);
            (at, Q::Resolution(v1::ResolutionQuery { from_ms, to_ms, by_street, by_category }))
        }
        QueryCmd::Funnel { at, by_street } => (at, Q::Funnel(v1::FunnelQuery { by_street: *by_street })),
        QueryCmd::Projects { at, year, over_cap } => {
            (at, Q::Projects(v1::ProjectsQuery { year: year.clone(), over_cap_only: *over_cap }))
        }
        QueryCmd::Hours { at, from_month, to_month, top } => {
            (at, Q::Hours(v1::HoursQuery { from_month: from_month.clone(), to_month: to_month.clone(), top: *top }))
        }
        QueryCmd::Sites { at, silent_hours, kind, limit } => {
            let silent_ms = silent_hours.checked_mul(3_600_000).filter(|ms| *ms >= 0).ok_or_else(|| {
                CtlError::BadArgument { arg: "silent-hours".into(), reason: format!("{silent_hours} is out of range") }
            })?;
            (at, Q::Sites(v1::SitesQuery { silent_ms: Some(silent_ms), kind: kind.clone(), limit: *limit }))
        }
    };
    Ok(v1::QueryRequest { at_ms: at_of(at)?, filter: Some(filter(at)), query: Some(query) })
}

/// `field=VALUE`: VALUE is JSON when it parses as JSON, text otherwise.
fn pair<'a>(arg: &str, text: &'a str) -> Result<(&'a str, &'a str), CtlError> {
    text.split_once('=')
        .filter(|(field, _)| !field.is_empty())
        .ok_or_else(|| CtlError::BadArgument { arg: arg.into(), reason: format!("`{text}` is not field=VALUE") })
}

fn ops(fields: &[String], add: &[String], claim: &[String]) -> Result<Vec<v1::FieldOp>, CtlError> {
    use v1::field_op::Op;
    let mut ops = Vec::new();
    for text in fields {
        let (field, value) = pair("field", text)?;
        let json = match serde_json::from_str::<Value>(value) {
            Ok(json) => json,
            Err(_) => Value::String(value.to_string()),
        };
        ops.push(v1::FieldOp { field: field.into(), op: Some(Op::SetJson(json.to_string())) });
    }
    for text in add {
        let (field, value) = pair("add", text)?;
        let delta: i64 = value.parse().map_err(|_| CtlError::BadArgument {
            arg: "add".into(),
            reason: format!("`{value}` is not a whole number"),
        })?;
        ops.push(v1::FieldOp { field: field.into(), op: Some(Op::Add(delta)) });
    }
    for text in claim {
        let (field, by) = pair("claim", text)?;
        ops.push(v1::FieldOp { field: field.into(), op: Some(Op::ClaimBy(by.into())) });
    }
    if ops.is_empty() {
        return Err(CtlError::BadArgument { arg: "fields".into(), reason: "nothing to write".into() });
    }
    Ok(ops)
}

fn write_request(write: WriteCmd) -> Result<v1::WriteRequest, CtlError> {
    use v1::write_request::Target;
    Ok(match write {
        WriteCmd::Create { owner, registry, fields, add, claim } => v1::WriteRequest {
            target: Some(Target::Create(v1::CreateTarget { owner, registry })),
            ops: ops(&fields, &add, &claim)?,
            ..Default::default()
        },
        WriteCmd::Update { key, fields, add, claim } => v1::WriteRequest {
            target: Some(Target::UpdateKey(key)),
            ops: ops(&fields, &add, &claim)?,
            ..Default::default()
        },
    })
}
