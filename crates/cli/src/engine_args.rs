//! The engine flags `search` and `mine` share.

use crate::values;
use clap::Args;
use sha256d::{Engine, Error, Options};

#[derive(Args)]
pub struct EngineArgs {
    /// CPU threads, at most four per core. Default: one per core.
    #[arg(long, value_parser = values::threads)]
    threads: Option<usize>,
    /// `asic` engine: the stick's serial device (`sha256d engines` lists candidates).
    #[arg(long, value_name = "PATH")]
    device: Option<String>,
    /// `asic` engine: the wire protocol, icarus, bm1397 or bm1370.
    #[arg(long, value_name = "P")]
    protocol: Option<String>,
    /// `asic` engine: the stick's hashes per second, which times its jobs (never set it above
    /// the real rate). Default: typical for the protocol.
    #[arg(long, value_name = "H", value_parser = values::hashrate)]
    hashrate: Option<f64>,
    /// `asic` engine: zero bits the chips hard-wire into reported nonces (32 on silicon; the
    /// emulator's `--ticket-bits`).
    #[arg(long, value_name = "Z", value_parser = values::ticket_bits)]
    ticket_bits: Option<u32>,
}

impl EngineArgs {
    /// Opens engine `name`, or without one the fastest CPU engine (on `--threads` threads).
    pub fn open(&self, name: Option<&str>) -> Result<Box<dyn Engine>, Error> {
        let mut options = Options::default();
        options.threads = self.threads;
        #[cfg(feature = "asic")]
        {
            options.asic_device = self.device.clone();
            options.asic_protocol = self.protocol.clone();
            options.asic_hashrate = self.hashrate;
            options.asic_ticket_bits = self.ticket_bits;
        }
        #[cfg(not(feature = "asic"))]
        if self.device.is_some()
            || self.protocol.is_some()
            || self.hashrate.is_some()
            || self.ticket_bits.is_some()
        {
            return Err(Error::new(
                sha256d::ErrorKind::Unavailable,
                "the asic flags need a build with the `asic` feature",
            ));
        }
        match (name, self.threads) {
            // The library says what is missing; the flags that supply it are the CLI's to name.
            (Some("asic"), _) if self.device.is_none() || self.protocol.is_none() => {
                sha256d::open("asic", &options).map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!("{} (--device PATH --protocol P)", e.message()),
                    )
                })
            }
            (Some(name), _) => sha256d::open(name, &options),
            (None, Some(_)) => sha256d::open(sha256d::hazmat::Backend::detect().name(), &options),
            (None, None) => Ok(sha256d::best()),
        }
    }
}
