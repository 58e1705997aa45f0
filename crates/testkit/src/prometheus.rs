//! Prometheus text read back by a real parser: `prometheus_client`'s
//! `text_string_to_metric_families`, in the Python that `SHA256D_PYTHON` names.

use crate::peers::{peer_path, unavailable};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// One metric family as the parser read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// Its name; the parser drops a counter's `_total` here (not from its samples).
    pub name: String,
    /// `counter`, `gauge`, ... or `untyped` where no `# TYPE` line matched the samples.
    pub kind: String,
    /// Its `# HELP` text, unescaped.
    pub help: String,
    /// Its samples, in order.
    pub samples: Vec<Sample>,
}

/// One sample as the parser read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's full name (a counter's keeps `_total`).
    pub name: String,
    /// Its labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

// Values go as `repr` strings: JSON has no infinities and no NaN.
const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.buffer.read().decode("utf-8")
out = [{"name": f.name, "type": f.type, "help": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": repr(float(s.value))}
                    for s in f.samples]}
       for f in text_string_to_metric_families(text)]
json.dump(out, sys.stdout)
"#;

/// `text` parsed by `prometheus_client`, or `None` (or a panic where peers are required)
/// without a Python that has it. Panics with the parser's error if it refuses the text.
pub fn parse(text: &str) -> Option<Vec<Family>> {
    let python = peer_path("SHA256D_PYTHON", "a Python with prometheus_client")?;
    let has_module = Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        return unavailable(&format!(
            "SHA256D_PYTHON={} cannot import prometheus_client",
            python.display()
        ));
    }
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("writing the metrics to the parser");
    let output = child.wait_with_output().expect("the parser's output");
    assert!(
        output.status.success(),
        "prometheus_client refused the text ({}):\n{}\n--- text:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let families: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("the parser script prints JSON");
    Some(families.iter().map(family).collect())
}

fn family(f: &Value) -> Family {
    let text = |v: &Value| {
        v.as_str()
            .expect("a string from the parser script")
            .to_string()
    };
    Family {
        name: text(&f["name"]),
        kind: text(&f["type"]),
        help: text(&f["help"]),
        samples: f["samples"]
            .as_array()
            .expect("a list of samples")
            .iter()
            .map(|s| Sample {
                name: text(&s["name"]),
                labels: s["labels"]
                    .as_object()
                    .expect("a label map")
                    .iter()
                    .map(|(k, v)| (k.clone(), text(v)))
                    .collect(),
                value: text(&s["value"])
                    .parse()
                    .expect("Python's repr of a float reads as an f64"),
            })
            .collect(),
    }
}
