//! A price read from a URL: a plain `http://` GET whose reply's body is what a price file
//! holds (one decimal number), sampled at the time it arrived.

use super::price::{parse_price, PriceReading, MAX_PRICE_FILE_BYTES};
use crate::web::{Call, Endpoint};
use jiff::Timestamp;
use sha256d::Error;

/// A price feed at a URL.
#[derive(Debug)]
pub struct PriceFeed {
    endpoint: Endpoint,
}

impl PriceFeed {
    /// A feed at `url` (`http://host[:port]/path`); only checks the URL.
    pub fn new(url: &str) -> Result<PriceFeed, Error> {
        Ok(PriceFeed {
            endpoint: Endpoint::parse(url, "the price feed")?,
        })
    }

    /// Fetches the price (blocking, at most [`crate::web::REQUEST_DEADLINE`]); the error names
    /// the URL.
    pub fn fetch(&self) -> Result<PriceReading, String> {
        let response = self
            .endpoint
            .exchange(&Call {
                method: "GET",
                path: "",
                bearer: None,
                body: None,
                max_reply: MAX_PRICE_FILE_BYTES,
            })
            .map_err(|e| e.message().to_string())?;
        let url = self.endpoint.url();
        if response.status != 200 {
            return Err(format!(
                "price feed {url}: HTTP {} {}",
                response.status, response.reason
            ));
        }
        let price = parse_price(&response.body).map_err(|e| format!("price feed {url}: {e}"))?;
        Ok(PriceReading {
            price,
            modified: Timestamp::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Serves `reply` once on loopback; returns the URL.
    fn serve(reply: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("one connection");
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            stream.write_all(reply.as_bytes()).expect("the reply");
        });
        format!("http://127.0.0.1:{port}/price")
    }

    #[test]
    fn a_feed_gives_its_number_and_says_why_not() {
        let ok = serve("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n42.50\n");
        let reading = PriceFeed::new(&ok)
            .expect("a URL")
            .fetch()
            .expect("a price");
        assert_eq!(reading.price, 42.5);
        let missing = serve("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        let e = PriceFeed::new(&missing)
            .expect("a URL")
            .fetch()
            .expect_err("404");
        assert_eq!(e, format!("price feed {missing}: HTTP 404 Not Found"));
        let words = serve("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n42.5 EUR\n");
        let e = PriceFeed::new(&words)
            .expect("a URL")
            .fetch()
            .expect_err("not a number");
        assert!(e.starts_with(&format!("price feed {words}: ")), "{e}");
        let too_long: &'static str = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n{}",
                "1".repeat(5000)
            )
            .into_boxed_str(),
        );
        let big = serve(too_long);
        assert!(PriceFeed::new(&big).expect("a URL").fetch().is_err());
        let e = PriceFeed::new("https://prices.example/now").expect_err("https");
        assert!(e.message().contains("https is not supported"), "{e}");
    }
}
