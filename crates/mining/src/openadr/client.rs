//! The blocking shell around [`Ven`]: each request through [`crate::web`] (plain `http://`,
//! one deadline, the reply capped).

use super::ven::{Reading, Request, Step, Ven, VenConfig};
use super::Timeline;
use crate::web::{Call, Endpoint};
use sha256d::Error;
use std::time::SystemTime;

pub use crate::web::REQUEST_DEADLINE;

/// The most bytes one VTN reply may carry: a page of 50 events with a day of one-minute
/// intervals each is about 3 MB.
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// The most requests one poll sends: a token, ten pages of programs and of events, and a
/// retry after a refused token.
const MAX_REQUESTS: usize = 24;

/// A VEN talking to one VTN over blocking HTTP.
#[derive(Debug)]
pub struct VenClient {
    endpoint: Endpoint,
    ven: Ven,
}

impl VenClient {
    /// A client for the VTN at `url` (`http://host[:port][/base/path]`, port 80 when omitted).
    /// Only checks the URL; nothing is sent until [`VenClient::poll`].
    pub fn new(url: &str, config: VenConfig) -> Result<VenClient, Error> {
        Ok(VenClient {
            endpoint: Endpoint::parse(url, "the VTN")?,
            ven: Ven::new(config),
        })
    }

    /// Fetches the program's events and resolves them: the new timeline, or why not (the
    /// previous timeline stays in [`VenClient::timeline`], which a VEN keeps executing while
    /// the VTN is away).
    pub fn poll(&mut self) -> Result<&Timeline, Error> {
        let request = self.ven.start_poll(SystemTime::now());
        self.run(request)?;
        Ok(self.ven.timeline())
    }

    /// Posts `reading` as a report.
    pub fn report(&mut self, reading: &Reading) -> Result<(), Error> {
        let request = self.ven.start_report(SystemTime::now(), reading)?;
        self.run(request)
    }

    /// The timeline of the last successful poll.
    pub fn timeline(&self) -> &Timeline {
        self.ven.timeline()
    }

    /// The program's id on the VTN, once a poll has found it.
    pub fn program_id(&self) -> Option<&str> {
        self.ven.program_id()
    }

    fn run(&mut self, mut request: Request) -> Result<(), Error> {
        for _ in 0..MAX_REQUESTS {
            let response = self.endpoint.exchange(&Call {
                method: request.method,
                path: &request.path,
                bearer: request.bearer.as_deref(),
                body: request
                    .body
                    .as_ref()
                    .map(|(kind, body)| (*kind, body.as_slice())),
                max_reply: MAX_REPLY_BYTES,
            })?;
            match self
                .ven
                .on_response(SystemTime::now(), response.status, &response.body)
                .map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!("{}: {}", self.endpoint.url(), e.message()),
                    )
                })? {
                Step::Send(next) => request = next,
                Step::Done => return Ok(()),
            }
        }
        Err(Error::parse(format!(
            "{}: more than {MAX_REQUESTS} requests for one poll",
            self.endpoint.url()
        )))
    }
}
