//! The dashboard page (`GET /`), shipped inside the binary: plain HTML, JavaScript and CSS
//! that fetch nothing but this API's own endpoints, so it works on a machine with no network.
//! The page polls `/v1/status`, `/v1/devices`, `/v1/pools` and `/v1/history`, charts measured
//! against proven hashrate over the last hour, and sets the power setpoint with the control
//! token. The assets hold no data, so serving them needs no token.

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("dashboard.js");
const STYLE: &str = include_str!("dashboard.css");

/// The asset at `path` (`/`, `/dashboard.js`, `/dashboard.css`): its content type and bytes.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "/" => Some(("text/html; charset=utf-8", INDEX.as_bytes())),
        "/dashboard.js" => Some(("text/javascript; charset=utf-8", SCRIPT.as_bytes())),
        "/dashboard.css" => Some(("text/css; charset=utf-8", STYLE.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: [&str; 3] = ["/", "/dashboard.js", "/dashboard.css"];

    fn text(path: &str) -> &'static str {
        let (_, bytes) = asset(path).expect("a dashboard asset");
        std::str::from_utf8(bytes).expect("the assets are UTF-8")
    }

    #[test]
    fn the_page_loads_its_script_and_style_from_this_server() {
        assert!(asset("/").is_some_and(|(kind, _)| kind.starts_with("text/html")));
        assert!(text("/").contains(r#"<script src="dashboard.js" defer></script>"#));
        assert!(text("/").contains(r#"<link rel="stylesheet" href="dashboard.css">"#));
        assert!(asset("/dashboard.js").is_some_and(|(kind, _)| kind.starts_with("text/javascript")));
        assert!(asset("/dashboard.css").is_some_and(|(kind, _)| kind.starts_with("text/css")));
        for other in [
            "",
            "/index.html",
            "/dashboard.js/",
            "/../mod.rs",
            "/v1/status",
        ] {
            assert!(asset(other).is_none(), "{other}");
        }
    }

    #[test]
    fn no_asset_names_anything_off_this_server() {
        // Covers absolute URLs and protocol-relative ones (`//host/x`) alike; the SVG
        // namespace comes from the page's own <svg> element instead.
        for path in PATHS {
            let text = text(path).to_ascii_lowercase();
            for needle in ["http:", "https:", "//", "@import", "url("] {
                assert!(!text.contains(needle), "{path} holds {needle:?}");
            }
        }
    }

    #[test]
    fn the_script_writes_text_never_markup() {
        let script = text("/dashboard.js");
        for needle in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!script.contains(needle), "dashboard.js uses {needle}");
        }
    }

    #[test]
    fn the_ids_the_page_script_reads_are_in_the_page() {
        let page = text("/");
        let script = text("/dashboard.js");
        let mut ids = 0;
        // Every `$("id")` and `show("id", ...)` in the script names an element of the page.
        for call in ["$(\"", "show(\""] {
            for rest in script.split(call).skip(1) {
                let id = rest.split('"').next().expect("a quoted id");
                assert!(
                    page.contains(&format!("id=\"{id}\"")),
                    "no #{id} in index.html"
                );
                ids += 1;
            }
        }
        assert!(ids > 30, "{ids}");
    }
}
