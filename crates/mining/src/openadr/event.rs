//! OpenADR 3 event objects, as a VTN sends them in `GET /events`, read into what a miner acts
//! on: each interval's timing and the payloads that limit power. Everything else in an event
//! (targets, report descriptors' details, prices) is left alone.

use super::iso::{parse_duration, parse_start, Length, Start};
use crate::sanitize::for_terminal;
use serde_json::Value;

/// The most intervals one event may carry; a day of one-minute intervals is 1440.
const MAX_INTERVALS: usize = 2048;
/// The most payloads one interval may carry.
const MAX_PAYLOADS: usize = 32;
/// The longest identifier kept (the spec allows 128 characters).
const MAX_ID: usize = 128;

/// What one interval asks of the load. Fields combine: each one that is set limits power.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Signal {
    /// `IMPORT_CAPACITY_LIMIT`: the most the load may draw, in watts (the payload is in kW).
    pub watts_cap: Option<f64>,
    /// `SIMPLE`: the level, 0 (normal) to 3.
    pub simple_level: Option<u8>,
    /// `ALERT_GRID_EMERGENCY` or `ALERT_BLACK_START`: stop drawing now.
    pub emergency: bool,
}

impl Signal {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Signal::default()
    }
}

/// One interval as sent: its own timing, where it has any, overrides the event's.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Interval {
    pub(crate) start: Option<Start>,
    pub(crate) length: Option<Length>,
    pub(crate) randomize: Option<Length>,
    pub(crate) signal: Signal,
}

/// One event, reduced to what the timeline needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Event {
    pub(crate) id: String,
    /// As sent: with the id it tells an edited event from the one the VEN saw before.
    pub(crate) modified: String,
    /// Lower numbers win; `None` (unspecified) loses to every number.
    pub(crate) priority: Option<u32>,
    pub(crate) start: Option<Start>,
    pub(crate) length: Option<Length>,
    pub(crate) randomize: Option<Length>,
    /// Every interval, in order: one without its own start follows the one before it, whether
    /// or not that one carries a [`Signal`].
    pub(crate) intervals: Vec<Interval>,
}

/// Reads one event object. `Ok(None)` for an event of another program; `Err` says why an event
/// of ours cannot be acted on.
pub(crate) fn parse_event(value: &Value, program_id: &str) -> Result<Option<Event>, String> {
    let object = value
        .as_object()
        .ok_or("an event that is not a JSON object")?;
    let id = short_string(object.get("id"), "id")?;
    if object.get("programID").and_then(Value::as_str) != Some(program_id) {
        return Ok(None);
    }
    let at = |why: String| format!("event {}: {why}", for_terminal(&id));
    let modified =
        short_string(object.get("modificationDateTime"), "modificationDateTime").map_err(at)?;
    let priority = match object.get("priority") {
        None | Some(Value::Null) => None,
        Some(p) => Some(
            p.as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .ok_or_else(|| at(format!("priority {p} is not a whole number >= 0")))?,
        ),
    };
    let (start, length, randomize) = period(object.get("intervalPeriod")).map_err(at)?;
    check_units(object.get("payloadDescriptors")).map_err(at)?;
    let intervals = match object.get("intervals") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) if list.len() <= MAX_INTERVALS => &list[..],
        Some(Value::Array(list)) => {
            return Err(at(format!(
                "{} intervals, more than {MAX_INTERVALS}",
                list.len()
            )))
        }
        Some(_) => return Err(at("intervals is not a list".to_owned())),
    };
    let intervals = intervals
        .iter()
        .enumerate()
        .map(|(i, interval)| {
            parse_interval(interval).map_err(|why| at(format!("interval {i}: {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Event {
        id,
        modified,
        priority,
        start,
        length,
        randomize,
        intervals,
    }))
}

fn short_string(value: Option<&Value>, what: &str) -> Result<String, String> {
    match value.and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= MAX_ID => Ok(s.to_owned()),
        _ => Err(format!(
            "{what} is missing or not a string of 1 to {MAX_ID} bytes"
        )),
    }
}

type Period = (Option<Start>, Option<Length>, Option<Length>);

fn period(value: Option<&Value>) -> Result<Period, String> {
    let object = match value {
        None | Some(Value::Null) => return Ok((None, None, None)),
        Some(Value::Object(object)) => object,
        Some(_) => return Err("intervalPeriod is not an object".to_owned()),
    };
    let text = |key: &str| match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("intervalPeriod.{key} is not a string")),
    };
    Ok((
        text("start")?.map(parse_start).transpose()?,
        text("duration")?.map(parse_duration).transpose()?,
        text("randomizeStart")?.map(parse_duration).transpose()?,
    ))
}

/// Refuses capacity limits in units other than kW: the spec's unit for them, and the only one
/// accepted (a limit read in the wrong unit is off by a thousand).
fn check_units(value: Option<&Value>) -> Result<(), String> {
    let Some(Value::Array(list)) = value else {
        return Ok(());
    };
    for descriptor in list.iter().take(MAX_PAYLOADS) {
        if descriptor.get("payloadType").and_then(Value::as_str) != Some("IMPORT_CAPACITY_LIMIT") {
            continue;
        }
        match descriptor.get("units") {
            None | Some(Value::Null) => {}
            Some(Value::String(u)) if u.eq_ignore_ascii_case("KW") => {}
            Some(u) => {
                return Err(format!(
                    "IMPORT_CAPACITY_LIMIT in units {}, not KW",
                    for_terminal(&u.to_string())
                ))
            }
        }
    }
    Ok(())
}

fn parse_interval(value: &Value) -> Result<Interval, String> {
    let object = value.as_object().ok_or("not a JSON object")?;
    let (start, length, randomize) = period(object.get("intervalPeriod"))?;
    let payloads = match object.get("payloads") {
        Some(Value::Array(list)) if list.len() <= MAX_PAYLOADS => list,
        Some(Value::Array(list)) => {
            return Err(format!("{} payloads, more than {MAX_PAYLOADS}", list.len()))
        }
        _ => return Err("payloads is missing or not a list".to_owned()),
    };
    let mut signal = Signal::default();
    for payload in payloads {
        let kind = payload
            .get("type")
            .and_then(Value::as_str)
            .ok_or("a payload without a type")?;
        let first = || -> Result<&Value, String> {
            payload
                .get("values")
                .and_then(Value::as_array)
                .and_then(|v| v.first())
                .ok_or_else(|| format!("a {} payload without values", for_terminal(kind)))
        };
        match kind {
            "IMPORT_CAPACITY_LIMIT" => {
                let kw = first()?
                    .as_f64()
                    .filter(|kw| kw.is_finite() && *kw >= 0.0 && *kw <= 1e9)
                    .ok_or("an IMPORT_CAPACITY_LIMIT that is not a number of kW from 0 to 1e9")?;
                let watts = kw * 1000.0;
                signal.watts_cap = Some(signal.watts_cap.map_or(watts, |w| w.min(watts)));
            }
            "SIMPLE" => {
                let level = first()?
                    .as_u64()
                    .filter(|l| *l <= 3)
                    .ok_or("a SIMPLE level that is not 0, 1, 2 or 3")?
                    as u8;
                signal.simple_level = Some(signal.simple_level.map_or(level, |l| l.max(level)));
            }
            // The grid itself in trouble: a black start is restoring a grid that went down.
            // The other alerts (flex alert, fire, weather, possible outage) inform; they do not
            // order a load off.
            "ALERT_GRID_EMERGENCY" | "ALERT_BLACK_START" => signal.emergency = true,
            _ => {}
        }
    }
    Ok(Interval {
        start,
        length,
        randomize,
        signal,
    })
}
