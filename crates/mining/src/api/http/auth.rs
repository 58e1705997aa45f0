//! The API's two bearer tokens and who may do what with them.
//!
//! A token is kept only as its SHA-256 digest, and a presented token is compared by digest in
//! constant time: the comparison takes as long whatever the token's length or how much of it
//! matches, and the server holds nothing it could print.

use super::request::Request;
use sha256d::hazmat::sha256;
use sha256d::Error;
use std::fmt;
use std::path::Path;

/// A bearer token. It never prints (its `Debug` shows only that it is one) and holds only the
/// token's digest.
#[derive(Clone)]
pub struct Secret {
    digest: [u8; 32],
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A token from its text: at least 16 characters, all visible ASCII (it travels in a
    /// header). Leading and trailing whitespace (a file's newline) is not part of it.
    pub fn new(token: &str) -> Result<Secret, Error> {
        let token = token.trim();
        if token.len() < 16 {
            return Err(Error::invalid(
                "an API token must be at least 16 characters long",
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "an API token must be visible ASCII characters only, with no spaces",
            ));
        }
        Ok(Secret {
            digest: sha256(token.as_bytes()),
        })
    }

    /// The token in the file at `path` (its whole text, trimmed).
    pub fn from_file(path: &Path) -> Result<Secret, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                sha256d::ErrorKind::Io,
                format!("cannot read the API token file {}: {e}", path.display()),
            )
        })?;
        Secret::new(&text).map_err(|e| {
            Error::invalid(format!(
                "the API token file {}: {}",
                path.display(),
                e.message()
            ))
        })
    }

    /// The token in environment variable `name`, if it is set.
    pub fn from_env(name: &str) -> Result<Option<Secret>, Error> {
        match std::env::var(name) {
            Ok(text) => Secret::new(&text)
                .map(Some)
                .map_err(|e| Error::invalid(format!("{name}: {}", e.message()))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid(format!(
                "{name}: an API token must be visible ASCII characters only"
            ))),
        }
    }

    /// Whether `presented` is this token, in time that does not depend on either.
    fn matches(&self, presented: &[u8; 32]) -> bool {
        self.digest
            .iter()
            .zip(presented)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// What an endpoint needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Nothing: it holds no data (the OpenAPI document, the dashboard's files).
    Open,
    /// The read token or the control token; nothing when no read token is configured.
    Read,
    /// The control token.
    Control,
}

/// A request that may not go on, as the status and message to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// 401 (no or wrong token: answer with `WWW-Authenticate: Bearer`) or 403.
    pub status: u16,
    /// Why, for the client.
    pub message: &'static str,
}

/// The tokens the server checks requests against.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    /// Reads with it; `None`: reads are open (the server allows that on loopback only).
    pub read: Option<Secret>,
    /// Reads and steers with it; `None`: control is disabled.
    pub control: Option<Secret>,
}

impl Auth {
    /// Whether `request` may reach an endpoint that needs `scope`.
    pub fn check(&self, scope: Scope, request: &Request) -> Result<(), Denied> {
        let unauthorized = Denied {
            status: 401,
            message: "this needs an API token: Authorization: Bearer <token>",
        };
        match scope {
            Scope::Open => Ok(()),
            Scope::Read => {
                let Some(read) = &self.read else {
                    return if names_loopback(request) {
                        Ok(())
                    } else {
                        Err(Denied {
                            status: 403,
                            message: "without a read token, reads are served to \
                                      http://localhost or http://127.0.0.1 only",
                        })
                    };
                };
                let presented = bearer(request).ok_or(unauthorized.clone())?;
                let as_read = read.matches(&presented);
                let as_control = self.control.as_ref().is_some_and(|c| c.matches(&presented));
                if as_read | as_control {
                    Ok(())
                } else {
                    Err(unauthorized)
                }
            }
            Scope::Control => {
                let Some(control) = &self.control else {
                    return Err(Denied {
                        status: 403,
                        message: "control is disabled: no control token",
                    });
                };
                let presented = bearer(request).ok_or(unauthorized.clone())?;
                if control.matches(&presented) {
                    Ok(())
                } else if self.read.as_ref().is_some_and(|r| r.matches(&presented)) {
                    Err(Denied {
                        status: 403,
                        message: "this needs the control token; the read token only reads",
                    })
                } else {
                    Err(unauthorized)
                }
            }
        }
    }
}

/// Whether the request names this host as loopback (`localhost`, `127.0.0.1`, `[::1]`, with
/// any port), or names none (HTTP/1.0). Open reads are for the machine itself; a browser
/// page from elsewhere that re-binds its own name to 127.0.0.1 sends that name, and must not
/// read the run through the visitor's browser.
fn names_loopback(request: &Request) -> bool {
    let Some(host) = request.header_values("host").next() else {
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(addr, _)| addr),
        None => host.split_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The digest of the one bearer token in `request`'s `Authorization` header; `None` without
/// one, with several, or with another scheme.
fn bearer(request: &Request) -> Option<[u8; 32]> {
    let mut values = request.header_values("authorization");
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| sha256(token.trim_start_matches(' ').as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "read-token-0123456789";
    const CONTROL: &str = "control-token-0123456789";

    fn with(authorization: &[&str]) -> Request {
        Request {
            method: "GET".into(),
            target: "/".into(),
            headers: authorization
                .iter()
                .map(|v| ("Authorization".to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn for_host(host: &str) -> Request {
        let mut request = with(&[]);
        request.headers.push(("Host".into(), host.into()));
        request
    }

    fn both() -> Auth {
        Auth {
            read: Some(Secret::new(READ).expect("valid")),
            control: Some(Secret::new(CONTROL).expect("valid")),
        }
    }

    fn status(auth: &Auth, scope: Scope, headers: &[&str]) -> u16 {
        match auth.check(scope, &with(headers)) {
            Ok(()) => 200,
            Err(denied) => denied.status,
        }
    }

    #[test]
    fn the_scopes() {
        let read = format!("Bearer {READ}");
        let control = format!("bearer  {CONTROL}");
        let auth = both();
        for (scope, none, wrong, with_read, with_control) in [
            (Scope::Open, 200, 200, 200, 200),
            (Scope::Read, 401, 401, 200, 200),
            (Scope::Control, 401, 401, 403, 200),
        ] {
            assert_eq!(status(&auth, scope, &[]), none, "{scope:?}");
            assert_eq!(status(&auth, scope, &["Bearer nope"]), wrong, "{scope:?}");
            assert_eq!(status(&auth, scope, &[&read]), with_read, "{scope:?}");
            assert_eq!(status(&auth, scope, &[&control]), with_control, "{scope:?}");
        }
        // A token must be the whole value, under the Bearer scheme, in one header.
        for headers in [
            vec![format!("Basic {READ}")],
            vec![format!("Bearer {READ}x")],
            vec![format!("Bearer {}", &READ[1..])],
            vec![READ.to_owned()],
            vec![read.clone(), read.clone()],
        ] {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            assert_eq!(status(&auth, Scope::Read, &headers), 401, "{headers:?}");
        }
    }

    #[test]
    fn without_tokens() {
        // No read token: reads are open; no control token: control is disabled.
        let open = Auth::default();
        assert_eq!(status(&open, Scope::Read, &[]), 200);
        let denied = open
            .check(Scope::Control, &with(&[]))
            .expect_err("disabled");
        assert_eq!(denied.status, 403);
        assert_eq!(denied.message, "control is disabled: no control token");
        let control_only = Auth {
            read: None,
            control: Some(Secret::new(CONTROL).expect("valid")),
        };
        assert_eq!(status(&control_only, Scope::Read, &[]), 200);
        assert_eq!(status(&control_only, Scope::Control, &[]), 401);
        let header = format!("Bearer {CONTROL}");
        assert_eq!(status(&control_only, Scope::Control, &[&header]), 200);
    }

    #[test]
    fn open_reads_are_for_loopback_names_only() {
        let open = Auth::default();
        for host in [
            "localhost:8080",
            "LOCALHOST",
            "127.0.0.1:1",
            "127.8.9.10",
            "[::1]:80",
            "[::1]",
        ] {
            assert_eq!(open.check(Scope::Read, &for_host(host)), Ok(()), "{host}");
        }
        for host in [
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]:80",
            "",
            "[::1",
        ] {
            let denied = open.check(Scope::Read, &for_host(host)).expect_err(host);
            assert_eq!(denied.status, 403, "{host}");
            // The files that hold no data are served whatever the name.
            assert_eq!(open.check(Scope::Open, &for_host(host)), Ok(()), "{host}");
        }
        // With a read token the token decides, not the name.
        let header = format!("Bearer {READ}");
        let mut request = for_host("evil.example");
        request.headers.push(("Authorization".into(), header));
        assert_eq!(both().check(Scope::Read, &request), Ok(()));
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new(&format!("  {READ}\n")).expect("trimmed");
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert!(!format!("{:?}", both()).contains("token"));
        // The trimmed text is the token.
        let auth = Auth {
            read: Some(secret),
            control: None,
        };
        assert_eq!(
            status(&auth, Scope::Read, &[&format!("Bearer {READ}")]),
            200
        );
        for bad in ["short", "with a space in it!", "tab\tinside-0123456789"] {
            let err = Secret::new(bad).expect_err(bad);
            assert!(!err.message().contains(bad), "{err}");
        }
    }

    #[test]
    fn from_a_file_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("sha256d-api-token-{}", std::process::id()));
        std::fs::write(&dir, format!("{CONTROL}\n")).expect("writes");
        let from_file = Secret::from_file(&dir).expect("reads");
        let _ = std::fs::remove_file(&dir);
        assert!(from_file.matches(&sha256(CONTROL.as_bytes())));
        assert!(Secret::from_file(&dir).is_err());
        let var = "SHA256D_API_TEST_TOKEN_THAT_IS_NEVER_SET";
        assert!(Secret::from_env(var).expect("unset is fine").is_none());
    }
}
