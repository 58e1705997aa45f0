//! The shapes a pool's fields come in: replies in both error dialects, hex fields with their
//! bounds, the getwork-order previous block hash, extranonces, and the BIP34 height.

use super::{MAX_COINBASE_PART, MAX_EXTRANONCE1};
use crate::sanitize::for_terminal;
use crate::Job;
use serde_json::Value;
use sha256d::hazmat::hex;
use sha256d::Error;

/// A reply's outcome in either error dialect.
pub(super) struct Reply<'a> {
    /// The reply's `result`, `null` when absent.
    pub result: &'a Value,
    /// `(code, message)` from `error` in any of its shapes.
    pub error: Option<(Option<i64>, String)>,
    /// ckpool's `reject-reason`.
    pub reject_reason: Option<String>,
}

impl Reply<'_> {
    /// Whether the request succeeded: no error and a `true` result.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.result == &Value::Bool(true)
    }

    /// The pool's reason for a failure, in one line.
    pub fn reason(&self) -> String {
        if let Some((code, msg)) = &self.error {
            return match (code, msg.is_empty()) {
                (Some(c), false) => format!("{msg} ({c})"),
                (Some(c), true) => format!("error {c}"),
                (None, _) => msg.clone(),
            };
        }
        if let Some(r) = &self.reject_reason {
            return r.clone();
        }
        format!("result {}", for_terminal(&self.result.to_string()))
    }
}

/// Whether two jobs build the same headers: a share on one is a share on the other.
pub(super) fn same_work(a: &Job, b: &Job) -> bool {
    a.id == b.id
        && a.prev_hash == b.prev_hash
        && a.coinb1 == b.coinb1
        && a.coinb2 == b.coinb2
        && a.extranonce1 == b.extranonce1
        && a.extranonce2_size == b.extranonce2_size
        && a.merkle_branch == b.merkle_branch
        && a.version == b.version
        && a.version_mask == b.version_mask
        && a.bits == b.bits
        && a.ntime == b.ntime
}

/// Whether a pool's rejection reason means the job was already gone.
pub(super) fn is_stale_reason(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("stale") || r.contains("invalid jobid") || r.contains("job not found")
}

/// `error` in any dialect: `[code, "msg", data]`, `{"code":..,"message":..}`, a string.
pub(super) fn error_of(e: Option<&Value>) -> Option<(Option<i64>, String)> {
    match e? {
        Value::Null => None,
        Value::Array(a) => Some((
            a.first().and_then(Value::as_i64),
            match a.get(1) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(m)) => for_terminal(m),
                Some(m) => for_terminal(&m.to_string()),
            },
        )),
        Value::Object(o) => Some((
            o.get("code").and_then(Value::as_i64),
            o.get("message")
                .and_then(Value::as_str)
                .map(for_terminal)
                .unwrap_or_default(),
        )),
        Value::String(s) => Some((None, for_terminal(s))),
        other => Some((None, for_terminal(&other.to_string()))),
    }
}

pub(super) fn str_param<'a>(v: &'a Value, what: &str) -> Result<&'a str, Error> {
    v.as_str()
        .ok_or_else(|| Error::parse(format!("mining.notify {what} is not a string")))
}

pub(super) fn bounded_hex(v: &Value, what: &str) -> Result<Vec<u8>, Error> {
    let text = str_param(v, what)?;
    if text.len() > 2 * MAX_COINBASE_PART {
        return Err(Error::parse(format!(
            "mining.notify {what} is longer than {MAX_COINBASE_PART} bytes"
        )));
    }
    hex::decode(text).map_err(|e| Error::parse(format!("mining.notify {what}: {e}")))
}

/// A u32 as Stratum writes version, nbits, ntime and masks: 8 hex digits, big-endian.
pub(super) fn parse_u32_hex(text: &str, field: &str) -> Result<u32, Error> {
    let b = hex::decode_array::<4>(text, field)?;
    Ok(u32::from_be_bytes(b))
}

/// The notify prevhash is the header's 32 bytes with each 4-byte word byte-reversed (the
/// getwork layout); undoing that gives the header order.
pub fn prevhash_from_notify(text: &str) -> Result<[u8; 32], Error> {
    let mut b = hex::decode_array::<32>(text, "prevhash")?;
    for word in b.chunks_exact_mut(4) {
        word.reverse();
    }
    Ok(b)
}

pub(super) fn parse_extranonce(en1: &Value, size: &Value) -> Result<(Vec<u8>, usize), Error> {
    let en1 = en1
        .as_str()
        .filter(|s| s.len() <= 2 * MAX_EXTRANONCE1)
        .ok_or_else(|| {
            Error::parse(format!(
                "extranonce1 must be hex of at most {MAX_EXTRANONCE1} bytes"
            ))
        })?;
    let en1 = hex::decode(en1).map_err(|e| Error::parse(format!("extranonce1: {e}")))?;
    match size.as_u64() {
        Some(s @ 2..=8) => Ok((en1, s as usize)),
        _ => Err(Error::parse(format!(
            "extranonce2_size {} is not in 2..=8",
            for_terminal(&size.to_string())
        ))),
    }
}

/// A subscription id is a short token (ckpool: 8 hex digits); a longer or odd one is not
/// kept, since it would only be sent back.
const MAX_SESSION_ID: usize = 64;

/// The id of the `mining.notify` entry in a `mining.subscribe` result's subscription list,
/// when it is a short token of letters and digits. Older pools send the one pair unnested.
pub(super) fn notify_subscription_id(subscriptions: &Value) -> Option<String> {
    let pair = |entry: &Value| match entry.as_array()?.as_slice() {
        [Value::String(name), Value::String(id), ..]
            if name == "mining.notify"
                && !id.is_empty()
                && id.len() <= MAX_SESSION_ID
                && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Some(id.clone())
        }
        _ => None,
    };
    pair(subscriptions).or_else(|| subscriptions.as_array()?.iter().find_map(pair))
}

/// The BIP34 height at the start of the coinbase scriptSig, where coinb1 reaches that far (a
/// Stratum V2 extended job's coinbase prefix too).
pub(crate) fn coinbase_height(coinb1: &[u8]) -> Option<u64> {
    // version (4), one input (1), null prevout (36), then the scriptSig length and script.
    if coinb1.get(4) != Some(&1) {
        return None;
    }
    let script = coinb1.get(42..)?;
    let first = *script.first()?;
    match first {
        0x51..=0x60 => Some(u64::from(first - 0x50)),
        1..=8 => {
            let bytes = script.get(1..1 + usize::from(first))?;
            let mut le = [0u8; 8];
            le[..bytes.len()].copy_from_slice(bytes);
            Some(u64::from_le_bytes(le))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_32_bit_field_is_named() {
        let e = super::parse_u32_hex("123", "mining.notify ntime").expect_err("3 digits");
        assert_eq!(
            e.to_string(),
            "mining.notify ntime must be 8 hex digits (4 bytes), got 3"
        );
    }
}
