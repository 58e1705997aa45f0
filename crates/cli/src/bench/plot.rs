//! `bench --plot FILE.svg`: one horizontal bar per row (its median), an error bar across its
//! runs (min to max), and a mark where its ceiling lies, labelled with the fraction reached.
//! Plain SVG written by hand: every text escaped, every number finite.

use std::fmt::Write;

/// What one bar shows.
pub struct Bar {
    pub label: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Fraction of the row's ceiling reached, where it has one.
    pub fraction: Option<f64>,
}

const WIDTH: f64 = 860.0;
const LEFT: f64 = 230.0;
const RIGHT: f64 = 120.0;
const ROW: f64 = 28.0;
const TOP: f64 = 40.0;

/// The chart as an SVG document.
pub fn svg(title: &str, bars: &[Bar]) -> String {
    let finite = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    // The ceiling mark sits at median / fraction, so bar and mark stand in the stated ratio.
    let ceiling = |b: &Bar| {
        b.fraction
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| finite(b.median / f))
    };
    let scale_max = bars
        .iter()
        .flat_map(|b| [finite(b.max), finite(b.median), ceiling(b).unwrap_or(0.0)])
        .fold(0.0, f64::max)
        .max(1e-9);
    let plot = WIDTH - LEFT - RIGHT;
    let x = |v: f64| LEFT + finite(v) / scale_max * plot;
    let height = TOP + ROW * bars.len() as f64 + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let mid = y + ROW / 2.0;
        let _ = writeln!(s, "<g>");
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            mid + 4.0,
            escape(&b.label)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4a7ebb"/>"##,
            y + 4.0,
            x(b.median) - LEFT,
            ROW - 8.0
        );
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{mid:.1}" y2="{mid:.1}" stroke="black"/>"#,
            x(b.min),
            x(b.max)
        );
        for end in [b.min, b.max] {
            let _ = writeln!(
                s,
                r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="black"/>"#,
                x(end),
                mid - 5.0,
                mid + 5.0
            );
        }
        let mut note = format!("{:.2} MH/s", finite(b.median));
        if let (Some(c), Some(f)) = (ceiling(b), b.fraction) {
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="#c0392b" stroke-width="2" stroke-dasharray="3,2"/>"##,
                x(c),
                y + 1.0,
                y + ROW - 1.0
            );
            let _ = write!(note, ", {:.0}% of ceiling", f * 100.0);
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x(finite(b.max).max(ceiling(b).unwrap_or(0.0))) + 6.0,
            mid + 4.0,
            escape(&note)
        );
        let _ = writeln!(s, "</g>");
    }
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="{:.1}" fill="#555">bars: median MH/s; black: min to max over runs; red dashes: ceiling</text>"##,
        height - 14.0
    );
    s.push_str("</svg>\n");
    s
}

/// Text as XML character data or attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no way to write most control characters at all.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, median: f64, fraction: Option<f64>) -> Bar {
        Bar {
            label: label.into(),
            median,
            min: median * 0.9,
            max: median * 1.1,
            fraction,
        }
    }

    #[test]
    fn the_chart_parses_as_xml_with_one_group_per_row_and_escaped_text() {
        let bars = [
            bar("sha-ni <1 thread> & \"co\"", 20.0, Some(0.8)),
            bar("gpu\u{1b}[2J", f64::NAN, None),
            bar("sha2-midstate", 10.0, Some(f64::INFINITY)),
        ];
        let text = svg("bench <run> 'today'", &bars);
        let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let groups: Vec<_> = root.children().filter(|n| n.has_tag_name("g")).collect();
        assert_eq!(groups.len(), 3);
        let label = |g: &roxmltree::Node| {
            g.children()
                .find(|n| n.has_tag_name("text"))
                .and_then(|t| t.text())
                .map(str::to_string)
        };
        assert_eq!(
            label(&groups[0]).as_deref(),
            Some("sha-ni <1 thread> & \"co\"")
        );
        assert_eq!(label(&groups[1]).as_deref(), Some("gpu [2J"));
        // Only the row with a finite fraction gets a ceiling mark (the dashed line).
        let marks: Vec<usize> = groups
            .iter()
            .map(|g| {
                g.children()
                    .filter(|n| n.attribute("stroke-dasharray").is_some())
                    .count()
            })
            .collect();
        assert_eq!(marks, [1, 0, 0]);
        let note = groups[0]
            .children()
            .filter(|n| n.has_tag_name("text"))
            .nth(1);
        assert_eq!(
            note.and_then(|n| n.text()),
            Some("20.00 MH/s, 80% of ceiling")
        );
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    }
}
