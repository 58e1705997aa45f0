//! Pool URLs parsed and written: which protocol, where, and for Stratum V2 the key that
//! authenticates the pool. The types stay in `net.rs`, their public home.

use super::{PoolUrl, Sv2Endpoint};
use sha256d::Error;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// The base58-check text of an SV2 authority key: a 2-byte version (1, little-endian) and the
/// 32-byte key, as the SV2 spec and SRI write it.
fn authority_key_text(key: &[u8; 32]) -> String {
    let mut data = Vec::with_capacity(38);
    data.extend_from_slice(&[1, 0]);
    data.extend_from_slice(key);
    let checksum = sha256d::hazmat::sha256d(&data);
    data.extend_from_slice(&checksum[..4]);
    bs58::encode(data).into_string()
}

#[cfg(feature = "sv2")]
fn parse_authority_key(text: &str) -> Result<[u8; 32], Error> {
    // Keys are 50-odd characters; base58 decoding is quadratic in the length.
    if text.len() > 100 {
        return Err(Error::parse("the authority key is too long to be one"));
    }
    text.parse::<crate::sv2::AuthorityPublicKey>()
        .map(crate::sv2::AuthorityPublicKey::to_bytes)
}

#[cfg(not(feature = "sv2"))]
fn parse_authority_key(_: &str) -> Result<[u8; 32], Error> {
    Err(Error::new(
        sha256d::ErrorKind::Unavailable,
        "this build has no Stratum V2 support (the mining crate's `sv2` feature)",
    ))
}

impl PoolUrl {
    /// Parses `stratum+tcp://host:port`, `stratum+ssl://host:port`, `stratum+tls://host:port`
    /// or `stratum2+tcp://host:port/AUTHORITY_KEY` (the key may be left out; see
    /// [`Sv2Endpoint`]); IPv6 hosts go in brackets (`stratum+tcp://[::1]:3333`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let bad = |why: &str| Error::parse(format!("pool URL {text:?}: {why}"));
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            bad("expected stratum+tcp://host:port, stratum+ssl://host:port, stratum+tls://host:port \
                 or stratum2+tcp://host:port/AUTHORITY_KEY")
        })?;
        let (tls, v2) = match scheme.to_ascii_lowercase().as_str() {
            "stratum+tcp" => (false, false),
            "stratum+ssl" | "stratum+tls" => (true, false),
            "stratum2+tcp" => (false, true),
            _ => {
                return Err(bad(
                    "unsupported scheme; accepted schemes are stratum+tcp://, stratum+ssl://, \
                     stratum+tls:// and stratum2+tcp://",
                ))
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (authority, key) = match rest.split_once('/') {
            Some((authority, key)) if v2 => (authority, Some(key)),
            _ => (rest, None),
        };
        if authority.contains(['/', '?', '#', '@']) {
            return Err(bad(if v2 {
                "only host:port and the authority key may follow the scheme"
            } else {
                "only host:port may follow the scheme"
            }));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (inside, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("IPv6 address without a closing ]"))?;
            inside
                .parse::<Ipv6Addr>()
                .map_err(|_| bad("not a valid IPv6 address in brackets"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("missing :port"))?;
            (inside, port)
        } else {
            let (host, port) = authority
                .rsplit_once(':')
                .ok_or_else(|| bad("missing :port"))?;
            if host.contains(':') {
                return Err(bad("IPv6 addresses must be written in brackets"));
            }
            (host, port)
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        };
        let sv2 = if v2 {
            let authority_key = match key {
                Some(key) => Some(parse_authority_key(key).map_err(|e| bad(e.message()))?),
                None => None,
            };
            Some(Sv2Endpoint { authority_key })
        } else {
            None
        };
        let mut url = PoolUrl::new(tls, host, port).map_err(|e| bad(e.message()))?;
        url.sv2 = sv2;
        Ok(url)
    }

    /// A URL from its parts, with the host checked as [`PoolUrl::parse`] checks it: a name
    /// (letters, digits, `-`, `.`, `_`) or an IP address (IPv6 without brackets), at most 255
    /// characters, and a port other than 0. A pool's `client.reconnect` host goes through
    /// here, so nothing else can reach a log line or a name lookup. The URL is a Stratum V1 one.
    pub fn new(tls: bool, host: &str, port: u16) -> Result<Self, Error> {
        if host.is_empty() {
            return Err(Error::parse("empty host"));
        }
        if host.len() > 255 {
            return Err(Error::parse("a host name has at most 255 characters"));
        }
        let name_like = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !name_like && host.parse::<Ipv6Addr>().is_err() {
            return Err(Error::parse(
                "the host has characters a host name cannot have",
            ));
        }
        if port == 0 {
            return Err(Error::parse("the port must be a number from 1 to 65535"));
        }
        Ok(PoolUrl {
            tls,
            host: host.to_string(),
            port,
            sv2: None,
        })
    }
}

impl FromStr for PoolUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        PoolUrl::parse(s)
    }
}

impl fmt::Display for PoolUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.sv2, self.tls) {
            (Some(_), _) => "stratum2+tcp",
            (None, true) => "stratum+ssl",
            (None, false) => "stratum+tcp",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)?;
        }
        match self.sv2 {
            Some(Sv2Endpoint {
                authority_key: Some(key),
            }) => write!(f, "/{}", authority_key_text(&key)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha256d::ErrorKind;

    #[test]
    fn urls_parse_and_print_back() {
        for (text, tls, host, port, shown) in [
            (
                "stratum+tcp://127.0.0.1:3333",
                false,
                "127.0.0.1",
                3333,
                "stratum+tcp://127.0.0.1:3333",
            ),
            (
                "stratum+ssl://pool.example.com:443",
                true,
                "pool.example.com",
                443,
                "stratum+ssl://pool.example.com:443",
            ),
            (
                "STRATUM+TLS://pool.example.com:4443/",
                true,
                "pool.example.com",
                4443,
                "stratum+ssl://pool.example.com:4443",
            ),
            (
                "stratum+tcp://[::1]:3333",
                false,
                "::1",
                3333,
                "stratum+tcp://[::1]:3333",
            ),
            (
                " stratum+tcp://a:65535 ",
                false,
                "a",
                65535,
                "stratum+tcp://a:65535",
            ),
        ] {
            let url = PoolUrl::parse(text).expect(text);
            assert_eq!(
                url,
                PoolUrl {
                    tls,
                    host: host.into(),
                    port,
                    sv2: None,
                },
                "{text}"
            );
            assert_eq!(url.to_string(), shown);
            assert_eq!(PoolUrl::parse(shown), Ok(url));
        }
    }

    #[cfg(feature = "sv2")]
    #[test]
    fn stratum_v2_urls_carry_the_authority_key() {
        // The authority key SRI's example configs ship, and its 32 bytes.
        let key_text = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
        let key: crate::sv2::AuthorityPublicKey = key_text.parse().expect("SRI's key");
        let text = format!("stratum2+tcp://127.0.0.1:34254/{key_text}");
        let url = PoolUrl::parse(&text).expect("a V2 URL");
        assert_eq!(
            url,
            PoolUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 34254,
                sv2: Some(Sv2Endpoint {
                    authority_key: Some(key.to_bytes())
                }),
            }
        );
        assert_eq!(url.to_string(), text);
        let bare = PoolUrl::parse("STRATUM2+TCP://[::1]:34254/").expect("without a key");
        assert_eq!(
            bare.sv2,
            Some(Sv2Endpoint {
                authority_key: None
            })
        );
        assert_eq!(bare.to_string(), "stratum2+tcp://[::1]:34254");
        for (bad, why) in [
            (
                "stratum2+tcp://h:1/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH73",
                "not a base58-check SV2 key",
            ),
            ("stratum2+tcp://h:1/key/more", "not a base58-check SV2 key"),
            ("stratum+tcp://h:1/key", "only host:port may follow"),
            ("stratum2+tcp://h/key", "missing :port"),
        ] {
            let err = PoolUrl::parse(bad).expect_err(bad);
            assert!(err.message().contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_urls_are_parse_errors_that_say_why() {
        for (text, why) in [
            ("http://pool:3333", "accepted schemes are stratum+tcp://"),
            ("stratum2+ssl://pool:3333", "stratum2+tcp://"),
            ("pool:3333", "expected stratum+tcp://host:port"),
            ("stratum+tcp://pool", "missing :port"),
            ("stratum+tcp://pool:", "port must be a number"),
            ("stratum+tcp://pool:0", "port must be a number"),
            ("stratum+tcp://pool:65536", "port must be a number"),
            ("stratum+tcp://pool:+33", "port must be a number"),
            ("stratum+tcp://pool:-1", "port must be a number"),
            ("stratum+tcp://:3333", "empty host"),
            ("stratum+tcp://[]:3333", "not a valid IPv6"),
            ("stratum+tcp://[::1:3333", "without a closing ]"),
            ("stratum+tcp://[::1]3333", "missing :port"),
            ("stratum+tcp://::1:3333", "must be written in brackets"),
            ("stratum+tcp://user:pw@pool:3333", "only host:port"),
            ("stratum+tcp://pool:3333/path", "only host:port"),
            ("stratum+tcp://po ol:3333", "characters a host name"),
        ] {
            let err = PoolUrl::parse(text).expect_err(text);
            assert_eq!(err.kind(), ErrorKind::Parse, "{text}");
            assert!(err.message().contains(why), "{text}: {err}");
        }
    }
}
