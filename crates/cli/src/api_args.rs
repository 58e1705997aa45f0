//! `mine`'s API flags: where the HTTP API and the cgminer-compatible API listen, and where
//! the HTTP API's two tokens come from (a file or the environment, never the command line).

use crate::secret;
use clap::Args;
use sha256d::{Error, ErrorKind};
use sha256d_mining::api::http::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the read token can come from instead of a file.
const READ_TOKEN_VAR: &str = "SHA256D_API_READ_TOKEN";
/// Where the control token can come from instead of a file.
const CONTROL_TOKEN_VAR: &str = "SHA256D_API_CONTROL_TOKEN";

#[derive(Args, Clone, Debug, Default)]
pub struct ApiArgs {
    /// Serve the HTTP API (JSON status, devices, pools, power events and setpoint, Prometheus
    /// /metrics, and a dashboard page at /) on ADDR:PORT, e.g. 127.0.0.1:8080 (port 0: any
    /// free port, logged). Any other address than loopback needs both tokens.
    #[arg(long, value_name = "ADDR:PORT")]
    api: Option<SocketAddr>,
    /// The API's read token (one line), or else SHA256D_API_READ_TOKEN. Without one, on
    /// loopback, reading needs no token.
    #[arg(long, value_name = "FILE", requires = "api")]
    api_read_token_file: Option<PathBuf>,
    /// The API's control token (one line; it can also read), or else
    /// SHA256D_API_CONTROL_TOKEN. Without one, nothing can be controlled through the API.
    #[arg(long, value_name = "FILE", requires = "api")]
    api_control_token_file: Option<PathBuf>,
    /// Serve a cgminer-compatible API (its JSON form: summary, devs, pools, stats, version,
    /// config) on ADDR:PORT, e.g. 127.0.0.1:4028, for the dashboards and fleet tools that
    /// speak it. It has no authentication, so loopback only.
    #[arg(long, value_name = "ADDR:PORT")]
    cgminer_api: Option<SocketAddr>,
    /// Let the cgminer-compatible API's clients switch pools and enable or disable devices
    /// (switchpool, ascenable, ascdisable); without this it only reads.
    #[arg(long, requires = "cgminer_api")]
    cgminer_api_allow_control: bool,
}

/// The HTTP API's tokens, as read.
pub struct Tokens {
    pub read: Option<Secret>,
    pub control: Option<Secret>,
}

impl ApiArgs {
    /// Where the HTTP API listens, if it runs.
    pub fn http(&self) -> Option<SocketAddr> {
        self.api
    }

    /// Where the cgminer-compatible API listens, if it runs, and whether it takes control
    /// commands.
    pub fn cgminer(&self) -> Option<(SocketAddr, bool)> {
        self.cgminer_api
            .map(|addr| (addr, self.cgminer_api_allow_control))
    }

    /// Whether anything can steer the run from outside.
    pub fn any(&self) -> bool {
        self.api.is_some() || self.cgminer_api.is_some()
    }

    /// The tokens from their files or the environment, each checked.
    pub fn tokens(&self) -> Result<Tokens, Error> {
        let read = token(self.api_read_token_file.as_deref(), READ_TOKEN_VAR)?;
        let control = token(self.api_control_token_file.as_deref(), CONTROL_TOKEN_VAR)?;
        if read.is_some() && read == control {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "the API's read and control tokens are the same: a reader could control the \
                 miner; give each its own",
            ));
        }
        let secret = |token: Option<String>, from: &str, what: &str| {
            token
                .map(|t| {
                    Secret::new(&t).map_err(|e| {
                        Error::new(
                            ErrorKind::InvalidInput,
                            format!("the API's {what} token from {from}: {}", e.message()),
                        )
                    })
                })
                .transpose()
        };
        Ok(Tokens {
            read: secret(
                read,
                &from(self.api_read_token_file.as_deref(), READ_TOKEN_VAR),
                "read",
            )?,
            control: secret(
                control,
                &from(self.api_control_token_file.as_deref(), CONTROL_TOKEN_VAR),
                "control",
            )?,
        })
    }
}

/// Where a token came from, for messages: its file, or else its variable.
fn from(file: Option<&std::path::Path>, var: &str) -> String {
    file.map_or_else(|| var.to_string(), |f| f.display().to_string())
}

/// The token in `file`, or else in the variable `var`.
fn token(file: Option<&std::path::Path>, var: &str) -> Result<Option<String>, Error> {
    secret::resolve(None, file, var)
}
