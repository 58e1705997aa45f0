//! The replies, rendered from a [`Snapshot`] with cgminer's field names, status codes and
//! number formats (hash rates in MH/s with two decimals, difficulties with eight, percentages
//! with four), so that tools written against cgminer read them unchanged.
//!
//! Where the run keeps no counter for a cgminer field (getwork timings, per-pool difficulty
//! sums, temperatures) the field is left out rather than filled with a made-up zero.

use super::command::{Refusal, Request};
use crate::api::{Control, HistoryPoint, Snapshot};
use crate::pool::{PoolState, PoolStatus};
use std::fmt::Write;

/// cgminer's API version that this API follows (its API-README).
const API_VERSION: &str = "3.7";
/// What `Description` says in every status, as cgminer's `--api-description` would.
const DESCRIPTION: &str = concat!("sha256d ", env!("CARGO_PKG_VERSION"));
/// cgminer names its shortest rolling rate after its log interval, 5 s by default.
const LOG_INTERVAL: u64 = 5;

/// What a reply is rendered from.
pub(super) struct View<'a> {
    pub snapshot: &'a Snapshot,
    /// The hashrate history, for the recent rates.
    pub history: &'a [HistoryPoint],
    /// Unix seconds of the request (`When`).
    pub when: u64,
}

/// The commands that change something, only answered when control is allowed.
const CONTROL: [&str; 5] = [
    "switchpool",
    "ascenable",
    "ascdisable",
    "pgaenable",
    "pgadisable",
];

/// The reply to a request (or to its refusal), NUL included.
pub(super) fn respond(
    request: Result<Request, Refusal>,
    view: &View,
    allow_control: bool,
    control: &dyn Control,
) -> Vec<u8> {
    let mut out = String::new();
    match request {
        Err(refusal) => {
            let (code, msg) = match refusal {
                Refusal::MissingCommand => (24, "Missing JSON 'command'".to_string()),
                Refusal::InvalidCommand => (14, "Invalid command".to_string()),
                // A request too long for cgminer's buffer reaches its JSON parser cut short.
                Refusal::TooLong | Refusal::InvalidJson => (23, "Invalid JSON".to_string()),
            };
            write_reply(&mut out, &status_only(view, 'E', code, msg));
        }
        Ok(request) if request.is_joined() => {
            let commands = request.commands();
            if commands.is_empty() {
                write_reply(&mut out, &invalid_command(view));
            }
            for (i, name) in commands.iter().enumerate() {
                out.push(if i == 0 { '{' } else { ',' });
                write_str(&mut out, name);
                out.push_str(":[");
                // cgminer answers a control command inside a join with "access denied",
                // whatever the access, and gives no command in a join its parameter.
                let reply = if CONTROL.contains(name) {
                    denied(view, name)
                } else {
                    command(view, name, None, allow_control, control)
                };
                write_reply(&mut out, &reply);
                out.push(']');
            }
            if !commands.is_empty() {
                out.push_str(",\"id\":1}");
            }
        }
        Ok(request) => {
            let reply = command(
                view,
                &request.command,
                request.parameter.as_deref(),
                allow_control,
                control,
            );
            write_reply(&mut out, &reply);
        }
    }
    let mut bytes = out.into_bytes();
    bytes.push(0);
    bytes
}

/// A value as cgminer prints it.
#[derive(Clone, Debug)]
enum V {
    S(String),
    U(u64),
    I(i64),
    /// A real with this many decimals.
    F(f64, usize),
    B(bool),
}

type Record = Vec<(String, V)>;

/// The status and, for a command that returns data, its section (`SUMMARY`, `POOLS`, ...).
struct Reply {
    status: Record,
    section: Option<(&'static str, Vec<Record>)>,
}

fn record<const N: usize>(fields: [(&str, V); N]) -> Record {
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn status(view: &View, severity: char, code: i64, msg: String) -> Record {
    let mut r = record([
        ("STATUS", V::S(severity.to_string())),
        ("When", V::U(view.when)),
        ("Code", V::I(code)),
        ("Msg", V::S(msg)),
    ]);
    // As cgminer: no description for a probe that sent an unknown command.
    if code != 14 {
        r.push(("Description".into(), V::S(DESCRIPTION.into())));
    }
    r
}

fn status_only(view: &View, severity: char, code: i64, msg: String) -> Reply {
    Reply {
        status: status(view, severity, code, msg),
        section: None,
    }
}

fn invalid_command(view: &View) -> Reply {
    status_only(view, 'E', 14, "Invalid command".into())
}

fn denied(view: &View, name: &str) -> Reply {
    status_only(view, 'E', 45, format!("Access denied to '{name}' command"))
}

fn command(
    view: &View,
    name: &str,
    parameter: Option<&str>,
    allow_control: bool,
    control: &dyn Control,
) -> Reply {
    match name {
        "version" => version(view),
        "config" => config(view),
        "summary" => summary(view),
        "devs" => devs(view),
        "pools" => pools(view),
        "stats" => stats(view),
        _ if CONTROL.contains(&name) && !allow_control => denied(view, name),
        "switchpool" => switch_pool(view, parameter, control),
        "ascenable" => set_device(view, Kind::Asc, parameter, true, control),
        "ascdisable" => set_device(view, Kind::Asc, parameter, false, control),
        "pgaenable" => set_device(view, Kind::Pga, parameter, true, control),
        "pgadisable" => set_device(view, Kind::Pga, parameter, false, control),
        _ => invalid_command(view),
    }
}

fn with_section(status: Record, name: &'static str, records: Vec<Record>) -> Reply {
    Reply {
        status,
        section: Some((name, records)),
    }
}

fn version(view: &View) -> Reply {
    with_section(
        status(view, 'S', 22, "CGMiner versions".into()),
        "VERSION",
        vec![record([
            ("CGMiner", V::S(DESCRIPTION.into())),
            ("API", V::S(API_VERSION.into())),
        ])],
    )
}

fn config(view: &View) -> Reply {
    let s = view.snapshot;
    let mut engines: Vec<&str> = Vec::new();
    for d in &s.stats.devices {
        if !engines.contains(&d.engine.as_str()) {
            engines.push(&d.engine);
        }
    }
    with_section(
        status(view, 'S', 33, "CGMiner config".into()),
        "CONFIG",
        vec![record([
            ("ASC Count", V::U(s.stats.devices.len() as u64)),
            ("PGA Count", V::U(0)),
            ("Pool Count", V::U(s.pools.len() as u64)),
            // The pool source always goes back to the first pool that answers.
            ("Strategy", V::S("Failover".into())),
            ("Log Interval", V::U(LOG_INTERVAL)),
            ("Device Code", V::S(engines.join(" "))),
            ("OS", V::S(std::env::consts::OS.into())),
            ("Hotplug", V::S("None".into())),
        ])],
    )
}

fn mhs(hashes_per_second: f64) -> V {
    V::F(hashes_per_second / 1e6, 2)
}

/// In GH/s with six decimals, not cgminer's two: two would show a CPU's few MH/s as zero.
fn ghs(hashes_per_second: f64) -> V {
    V::F(hashes_per_second / 1e9, 6)
}

fn percent(part: u64, whole: u64) -> V {
    V::F(
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64 * 100.0
        },
        4,
    )
}

/// Shares accepted per minute.
fn utility(accepted: u64, seconds: f64) -> V {
    V::F(
        if seconds > 0.0 {
            accepted as f64 / seconds * 60.0
        } else {
            0.0
        },
        2,
    )
}

/// The mean measured rate over the newest `window` of the history, or `None` before the
/// history has a step (its first point is the average since the start).
fn recent(history: &[HistoryPoint], window: f64) -> Option<f64> {
    let newest = history.last()?;
    let points: Vec<f64> = history
        .iter()
        .skip(1)
        .rev()
        .take_while(|p| p.at > newest.at - window)
        .map(|p| p.measured)
        .collect();
    if points.is_empty() {
        // The newest step is longer than the window: it is still the latest rate known.
        return (history.len() > 1).then_some(newest.measured);
    }
    Some(points.iter().sum::<f64>() / points.len() as f64)
}

fn summary(view: &View) -> Reply {
    let st = &view.snapshot.stats;
    let secs = st.elapsed.as_secs_f64();
    let average = st.hashrate();
    let rate = |window: u64| mhs(recent(view.history, window as f64).unwrap_or(average));
    let rejected = st.rejected_total();
    let pool_stale: u64 = view.snapshot.pools.iter().map(|p| p.stale).sum();
    let submitted = st.accepted + rejected;
    let found = st.shares_found + st.hardware_errors;
    with_section(
        status(view, 'S', 11, "Summary".into()),
        "SUMMARY",
        vec![record([
            ("Elapsed", V::U(st.elapsed.as_secs())),
            ("MHS av", mhs(average)),
            (&format!("MHS {LOG_INTERVAL}s"), rate(LOG_INTERVAL)),
            ("MHS 1m", rate(60)),
            ("MHS 5m", rate(300)),
            ("MHS 15m", rate(900)),
            ("Found Blocks", V::U(st.blocks_found)),
            ("Getworks", V::U(st.jobs)),
            ("Accepted", V::U(st.accepted)),
            ("Rejected", V::U(rejected)),
            ("Hardware Errors", V::U(st.hardware_errors)),
            ("Utility", utility(st.accepted, secs)),
            ("Discarded", V::U(st.dropped_total())),
            ("Stale", V::U(st.stale)),
            ("Total MH", V::F(st.hashes as f64 / 1e6, 4)),
            ("Difficulty Accepted", V::F(st.accepted_difficulty, 8)),
            ("Best Share", V::U(st.best_share_difficulty as u64)),
            ("Device Hardware%", percent(st.hardware_errors, found)),
            ("Pool Rejected%", percent(rejected, submitted)),
            ("Pool Stale%", percent(pool_stale, submitted)),
            // The Antminer builds of cgminer (and bmminer) give the rates in GH/s under these
            // names, and tools written for them (pyasic's cgminer backend) read these.
            (
                "GHS 5s",
                ghs(recent(view.history, LOG_INTERVAL as f64).unwrap_or(average)),
            ),
            ("GHS av", ghs(average)),
        ])],
    )
}

fn devs(view: &View) -> Reply {
    let s = view.snapshot;
    let elapsed = s.stats.elapsed;
    let secs = elapsed.as_secs_f64();
    if s.stats.devices.is_empty() {
        return status_only(view, 'E', 10, "No ASCs".into());
    }
    let records = s
        .stats
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let enabled = !d.disabled;
            // The run keeps one rate per device: its average.
            let average = d.hashrate(elapsed);
            record([
                ("ASC", V::U(i as u64)),
                ("Name", V::S(d.engine.clone())),
                ("ID", V::U(i as u64)),
                ("Enabled", V::S(if enabled { "Y" } else { "N" }.into())),
                (
                    "Status",
                    V::S(if d.failure.is_some() { "Dead" } else { "Alive" }.into()),
                ),
                ("MHS av", mhs(average)),
                (&format!("MHS {LOG_INTERVAL}s"), mhs(average)),
                ("MHS 1m", mhs(average)),
                ("MHS 5m", mhs(average)),
                ("MHS 15m", mhs(average)),
                ("Accepted", V::U(d.accepted)),
                ("Rejected", V::U(d.rejected)),
                ("Hardware Errors", V::U(d.hardware_errors)),
                ("Utility", utility(d.accepted, secs)),
                ("Total MH", V::F(d.hashes as f64 / 1e6, 4)),
                ("Difficulty Accepted", V::F(d.accepted_difficulty, 8)),
                (
                    "Device Hardware%",
                    percent(d.hardware_errors, d.hardware_errors + d.shares_found),
                ),
                ("Device Elapsed", V::U(elapsed.as_secs())),
            ])
        })
        .collect();
    with_section(
        status(view, 'S', 9, format!("{} ASC(s)", s.stats.devices.len())),
        "DEVS",
        records,
    )
}

fn pool_record(i: usize, p: &PoolState) -> Record {
    let alive = p.status == PoolStatus::Alive;
    let stratum = p.url.starts_with("stratum");
    let active = p.active && alive && stratum;
    let difficulty = p.difficulty.unwrap_or(0.0);
    record([
        ("POOL", V::U(i as u64)),
        ("URL", V::S(p.url.clone())),
        // cgminer calls a pool that is not working "Dead" until it works.
        ("Status", V::S(if alive { "Alive" } else { "Dead" }.into())),
        ("Priority", V::U(i as u64)),
        ("Quota", V::U(1)),
        ("Long Poll", V::S("N".into())),
        ("Accepted", V::U(p.accepted)),
        ("Rejected", V::U(p.rejected)),
        ("Stale", V::U(p.stale)),
        ("User", V::S(p.user.clone())),
        ("Proxy Type", V::S(String::new())),
        ("Proxy", V::S(String::new())),
        ("Work Difficulty", V::F(difficulty, 8)),
        ("Has Stratum", V::B(stratum)),
        ("Stratum Active", V::B(active)),
        (
            "Stratum URL",
            V::S(if active { p.url.clone() } else { String::new() }),
        ),
        (
            "Stratum Difficulty",
            V::F(if active { difficulty } else { 0.0 }, 8),
        ),
        ("Has GBT", V::B(p.url.starts_with("http"))),
        (
            "Pool Rejected%",
            percent(p.rejected, p.accepted + p.rejected),
        ),
        ("Pool Stale%", percent(p.stale, p.accepted + p.rejected)),
    ])
}

fn pools(view: &View) -> Reply {
    let pools = &view.snapshot.pools;
    if pools.is_empty() {
        return status_only(view, 'E', 8, "No pools".into());
    }
    with_section(
        status(view, 'S', 7, format!("{} Pool(s)", pools.len())),
        "POOLS",
        pools
            .iter()
            .enumerate()
            .map(|(i, p)| pool_record(i, p))
            .collect(),
    )
}

fn stats(view: &View) -> Reply {
    let s = view.snapshot;
    let elapsed = V::U(s.stats.elapsed.as_secs());
    let ids = s
        .stats
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{}{i}", d.engine))
        .chain((0..s.pools.len()).map(|i| format!("POOL{i}")));
    let mut records: Vec<Record> = ids
        .enumerate()
        .map(|(n, id)| {
            record([
                ("STATS", V::U(n as u64)),
                ("ID", V::S(id)),
                ("Elapsed", elapsed.clone()),
            ])
        })
        .collect();
    let devices = s.stats.devices.len();
    for (record, pool) in records[devices..].iter_mut().zip(&s.pools) {
        record.push(("Work Diff".into(), V::F(pool.difficulty.unwrap_or(0.0), 8)));
    }
    with_section(
        status(view, 'S', 70, "CGMiner stats".into()),
        "STATS",
        records,
    )
}

fn parse_id(parameter: Option<&str>) -> Option<Result<usize, i64>> {
    let p = parameter?.trim();
    if p.is_empty() {
        return None;
    }
    // cgminer reads the id with atoi: anything that is not a number is id 0 there; here it
    // is refused as invalid instead of acting on a pool or device nobody named.
    Some(match p.parse::<i64>() {
        Ok(n) => usize::try_from(n).map_err(|_| n),
        Err(_) => Err(-1),
    })
}

fn switch_pool(view: &View, parameter: Option<&str>, control: &dyn Control) -> Reply {
    let pools = &view.snapshot.pools;
    if pools.is_empty() {
        return status_only(view, 'E', 8, "No pools".into());
    }
    let invalid = |id: i64| {
        format!(
            "Invalid pool id {id} - range is 0 - {}",
            pools.len() as i64 - 1
        )
    };
    let index = match parse_id(parameter) {
        None => return status_only(view, 'E', 25, "Missing pool id parameter".into()),
        Some(Ok(i)) if i < pools.len() => i,
        Some(Ok(i)) => return status_only(view, 'E', 26, invalid(i as i64)),
        Some(Err(n)) => return status_only(view, 'E', 26, invalid(n)),
    };
    match control.switch_pool(index) {
        Ok(()) => status_only(
            view,
            'S',
            27,
            format!("Switching to pool {index}:'{}'", pools[index].url),
        ),
        Err(why) => status_only(view, 'E', 26, why),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Asc,
    Pga,
}

/// cgminer's codes for one kind: none, invalid, already enabled, already disabled, enabled,
/// disabled.
struct Codes {
    name: &'static str,
    none: i64,
    invalid: i64,
    already_enabled: i64,
    already_disabled: i64,
    enabled: i64,
    disabled: i64,
}

impl Kind {
    fn codes(self) -> Codes {
        match self {
            Kind::Asc => Codes {
                name: "ASC",
                none: 105,
                invalid: 107,
                already_enabled: 108,
                already_disabled: 109,
                enabled: 110,
                disabled: 111,
            },
            Kind::Pga => Codes {
                name: "PGA",
                none: 56,
                invalid: 58,
                already_enabled: 61,
                already_disabled: 62,
                enabled: 63,
                disabled: 64,
            },
        }
    }
}

fn set_device(
    view: &View,
    kind: Kind,
    parameter: Option<&str>,
    enable: bool,
    control: &dyn Control,
) -> Reply {
    let c = kind.codes();
    let n = view.snapshot.stats.devices.len();
    if n == 0 {
        return status_only(view, 'E', c.none, format!("No {}s", c.name));
    }
    let invalid = |id: i64| format!("Invalid {} id {id} - range is 0 - {}", c.name, n as i64 - 1);
    let index = match parse_id(parameter) {
        None => return status_only(view, 'E', 15, "Missing device id parameter".into()),
        Some(Ok(i)) if i < n => i,
        Some(Ok(i)) => return status_only(view, 'E', c.invalid, invalid(i as i64)),
        Some(Err(id)) => return status_only(view, 'E', c.invalid, invalid(id)),
    };
    let now = !view.snapshot.stats.devices[index].disabled;
    if now == enable {
        let (code, state) = if enable {
            (c.already_enabled, "enabled")
        } else {
            (c.already_disabled, "disabled")
        };
        return status_only(
            view,
            'I',
            code,
            format!("{} {index} already {state}", c.name),
        );
    }
    match control.set_device_enabled(index, enable) {
        Ok(()) if enable => status_only(
            view,
            'I',
            c.enabled,
            format!("{} {index} sent enable message", c.name),
        ),
        Ok(()) => status_only(
            view,
            'I',
            c.disabled,
            format!("{} {index} set disable flag", c.name),
        ),
        Err(why) => status_only(view, 'E', c.invalid, why),
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

fn write_value(out: &mut String, v: &V) {
    match v {
        V::S(s) => write_str(out, s),
        V::U(n) => {
            let _ = write!(out, "{n}");
        }
        V::I(n) => {
            let _ = write!(out, "{n}");
        }
        V::F(x, decimals) => {
            // JSON has no NaN or infinity.
            let x = if x.is_finite() { *x } else { 0.0 };
            let _ = write!(out, "{x:.decimals$}");
        }
        V::B(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

fn write_record(out: &mut String, r: &Record) {
    out.push('{');
    for (i, (k, v)) in r.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

fn write_reply(out: &mut String, reply: &Reply) {
    out.push_str("{\"STATUS\":[");
    write_record(out, &reply.status);
    out.push(']');
    if let Some((name, records)) = &reply.section {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":[");
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_record(out, r);
        }
        out.push(']');
    }
    out.push_str(",\"id\":1}");
}
