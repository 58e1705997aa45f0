//! The node's RPC credentials, as every subcommand that talks to a node takes them: a user
//! with a password from a file or the environment (or, visibly to `ps`, the command line), or
//! the node's cookie file.

use crate::secret;
use clap::{ArgGroup, Args};
use sha256d::{Error, ErrorKind};
use sha256d_mining::rpc::Auth;
use std::path::PathBuf;

/// Where `--rpc-pass` can come from instead of the command line.
const RPC_PASS_VAR: &str = "SHA256D_RPC_PASS";

#[derive(Args)]
#[command(group(ArgGroup::new("rpc_auth").args(["rpc_user", "rpc_cookie"])))]
pub struct NodeAuthArgs {
    /// Node RPC user; the password comes from --rpc-pass, --rpc-pass-file or SHA256D_RPC_PASS.
    #[arg(long, value_name = "U")]
    rpc_user: Option<String>,
    /// Node RPC password. Other local users can read it in `ps`: prefer --rpc-pass-file or
    /// SHA256D_RPC_PASS.
    #[arg(long, value_name = "P", requires = "rpc_user")]
    rpc_pass: Option<String>,
    /// Read the node RPC password from this file (one line).
    #[arg(
        long,
        value_name = "FILE",
        requires = "rpc_user",
        conflicts_with = "rpc_pass"
    )]
    rpc_pass_file: Option<PathBuf>,
    /// Node RPC cookie file (`<datadir>/<chain>/.cookie`), instead of user and password.
    #[arg(long, value_name = "FILE")]
    rpc_cookie: Option<PathBuf>,
}

impl NodeAuthArgs {
    /// The credentials; `needed_for` names what needs them in the error when none are given.
    pub fn auth(&self, needed_for: &str) -> Result<Auth, Error> {
        match (&self.rpc_user, &self.rpc_cookie) {
            (Some(u), None) => {
                let pass = secret::resolve(
                    self.rpc_pass.as_deref(),
                    self.rpc_pass_file.as_deref(),
                    RPC_PASS_VAR,
                )?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "--rpc-user needs a password: --rpc-pass, --rpc-pass-file or \
                             {RPC_PASS_VAR}"
                        ),
                    )
                })?;
                Ok(Auth::UserPass(u.clone(), pass))
            }
            (None, Some(c)) => Ok(Auth::Cookie(c.clone())),
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{needed_for} needs --rpc-user and --rpc-pass, or --rpc-cookie"),
            )),
        }
    }
}
