//! `sha256d template-provider`: serve a Stratum V2 pool (`pool_sv2`) the work of any node
//! with `getblocktemplate`, and send the blocks it finds to the node.

use crate::node_args::NodeAuthArgs;
use crate::{secret, signals};
use clap::{ArgGroup, Args};
use sha256d::{Error, ErrorKind};
use sha256d_mining::sanitize;
use sha256d_mining::sv2::template_provider::{Server, ServerOptions, DEFAULT_PORT};
use sha256d_mining::sv2::AuthorityKeypair;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where the authority secret key can come from instead of a file.
const SECRET_VAR: &str = "SHA256D_TP_AUTHORITY_SECRET";

#[derive(Args)]
#[command(group(ArgGroup::new("key").args(["authority_secret_file", "generate_key"])))]
pub struct TemplateProviderArgs {
    /// The node's JSON-RPC URL, e.g. http://127.0.0.1:18443.
    #[arg(long, value_name = "URL")]
    node: String,
    #[command(flatten)]
    node_auth: NodeAuthArgs,
    /// Where pools connect. Loopback by default: anyone who reaches the port can take the
    /// node's templates and have blocks submitted.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    listen: SocketAddr,
    /// The authority secret key (base58-check, one line), or else from
    /// SHA256D_TP_AUTHORITY_SECRET. The pool pins its public half.
    #[arg(long, value_name = "FILE")]
    authority_secret_file: Option<PathBuf>,
    /// Generate a new authority key, write its secret to FILE (which must not exist; readable
    /// only by you) and serve with it.
    #[arg(long, value_name = "FILE")]
    generate_key: Option<PathBuf>,
    /// Poll the node instead of longpolling it.
    #[arg(long)]
    no_longpoll: bool,
}

fn keypair(args: &TemplateProviderArgs) -> Result<AuthorityKeypair, Error> {
    if let Some(path) = &args.generate_key {
        let keypair = AuthorityKeypair::generate();
        write_new_secret(path, &keypair.secret_base58())?;
        errln!("wrote a new authority secret key to {}", path.display());
        return Ok(keypair);
    }
    let secret = secret::resolve(None, args.authority_secret_file.as_deref(), SECRET_VAR)?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "the template provider needs an authority key: --authority-secret-file \
                     FILE, {SECRET_VAR}, or --generate-key FILE for a new one"
                ),
            )
        })?;
    AuthorityKeypair::from_secret_base58(&secret)
}

/// Creates `path` with `secret` in it, readable only by its owner, refusing to replace a file.
fn write_new_secret(path: &Path, secret: &str) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let io = |e: std::io::Error| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "; to serve with the key in it, pass --authority-secret-file instead"
        } else {
            ""
        };
        Error::new(
            ErrorKind::Io,
            format!("cannot create {}: {e}{hint}", path.display()),
        )
    };
    let mut file = options.open(path).map_err(io)?;
    writeln!(file, "{secret}").map_err(io)
}

pub fn run(args: TemplateProviderArgs) -> Result<(), Error> {
    let auth = args.node_auth.auth("the template provider")?;
    let keypair = keypair(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut options = ServerOptions::new(&args.node, auth, keypair);
    options.listen = args.listen;
    options.longpoll = !args.no_longpoll;
    options.stop = Some(Arc::clone(&stop));
    let server = Server::start(
        options,
        Arc::new(|line: &str| log::info!("{}", sanitize::for_terminal(line))),
    )?;
    // The one thing a script needs, on stdout; the pool's configuration on stderr.
    outln!("{}", server.public_key());
    errln!(
        "configure pool_sv2 with:\n[template_provider_type.Sv2Tp]\naddress = \"{}\"\npublic_key = \"{}\"",
        server.local_addr(),
        server.public_key()
    );
    signals::on_interrupt(move || stop.store(true, Ordering::Relaxed))?;
    server.wait();
    Ok(())
}
