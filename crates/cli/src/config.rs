//! `mine --config FILE`: a TOML file whose keys are `mine`'s own flags, for a miner that runs
//! unattended. `pool = ["stratum+tcp://a:3333", "stratum+tcp://b:3333"]`, `threads = 2`,
//! `json = true`: each key is a long flag's name (`share-log-max-bytes`, or with underscores),
//! each value what the flag takes; an array repeats a flag that may repeat, and `true` sets a
//! switch. The file becomes flags appended to the command line, so every flag is a key,
//! checked exactly as on the command line; a flag the command line gives replaces the key.
//!
//! Passwords are refused as keys: the file names a password file (`pass-file`,
//! `rpc-pass-file`), or the environment holds the password (`SHA256D_POOL_PASS`,
//! `SHA256D_RPC_PASS`), so the config can be shared and read without exposing one.

use clap::parser::ValueSource;
use clap::{ArgAction, Command};
use sha256d::{Error, ErrorKind};
use std::ffi::OsString;
use std::path::PathBuf;

/// Far more than every flag with long values; a bigger file is the wrong file.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Keys that would put a password in the file, and where it should come from instead.
const SECRETS: [(&str, &str); 2] = [
    ("pass", "pass-file or SHA256D_POOL_PASS"),
    ("rpc-pass", "rpc-pass-file or SHA256D_RPC_PASS"),
];

/// `args` (the whole command line, program name first) with the keys of `mine --config FILE`
/// appended as flags; unchanged when `mine` has no `--config`. A command line that does not
/// parse is returned as it is, for the real parse to report.
pub fn expand(cli: &Command, args: Vec<OsString>) -> Result<Vec<OsString>, Error> {
    let Ok(matches) = cli
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args.clone())
    else {
        return Ok(args);
    };
    let Some(("mine", mine)) = matches.subcommand() else {
        return Ok(args);
    };
    let Some(path) = mine.try_get_one::<PathBuf>("config").ok().flatten() else {
        return Ok(args);
    };
    let command = cli
        .find_subcommand("mine")
        .expect("the mine subcommand is defined");
    let given = |id: &str| mine.value_source(id) == Some(ValueSource::CommandLine);
    let text = crate::secret::read_capped(path, MAX_CONFIG_BYTES, "a config file")?;
    let flags = flags(command, &text, given).map_err(|why| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("{}: {why}", path.display()),
        )
    })?;
    let mut args = args;
    args.extend(flags.into_iter().map(OsString::from));
    Ok(args)
}

/// The flags the TOML `text` stands for, as `--name=value` or `--name`, leaving out the keys
/// for which `given(arg id)` says the command line has its own.
fn flags(
    command: &Command,
    text: &str,
    given: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| sha256d_mining::sanitize::for_terminal(e.message()))?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let shown = sha256d_mining::sanitize::for_terminal(key);
        if let Some((_, instead)) = SECRETS.iter().find(|(secret, _)| *secret == name) {
            return Err(format!(
                "`{shown}` would keep a password in the config; use {instead}"
            ));
        }
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()) && name != "config")
            .ok_or_else(|| format!("`{shown}` is not a flag of `sha256d mine`"))?;
        if given(arg.get_id().as_str()) {
            continue;
        }
        let repeats = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
        let switch = !arg.get_action().takes_values();
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) if repeats => items.iter().collect(),
            toml::Value::Array(_) => return Err(format!("`{shown}` takes one value, not a list")),
            one => vec![one],
        };
        for value in values {
            match (value, switch) {
                (toml::Value::Boolean(true), true) => out.push(format!("--{name}")),
                (toml::Value::Boolean(false), true) => {}
                (_, true) => return Err(format!("`{shown}` is a switch: true or false")),
                (toml::Value::String(s), false) => out.push(format!("--{name}={s}")),
                (toml::Value::Integer(n), false) => out.push(format!("--{name}={n}")),
                (toml::Value::Float(x), false) => out.push(format!("--{name}={x}")),
                (toml::Value::Boolean(b), false) => out.push(format!("--{name}={b}")),
                (_, false) => {
                    return Err(format!(
                        "`{shown}` takes a string or a number, as its flag does"
                    ))
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn mine() -> Command {
        crate::Cli::command()
            .find_subcommand("mine")
            .expect("defined")
            .clone()
    }

    fn flags_of(text: &str) -> Result<Vec<String>, String> {
        flags(&mine(), text, |_| false)
    }

    #[test]
    fn keys_become_the_flags_they_name() {
        let text = r#"
            pool = ["stratum+tcp://a.example:3333", "stratum2+tcp://b.example:3336/KEY"]
            user = "bc1qexample.rig1"
            pass_file = "/etc/sha256d/pass"
            threads = 2
            sv2-hashrate = 1.5e9
            json = true
            no-version-rolling = false
        "#;
        assert_eq!(
            flags_of(text),
            Ok(vec![
                "--json".to_string(),
                "--pass-file=/etc/sha256d/pass".into(),
                "--pool=stratum+tcp://a.example:3333".into(),
                "--pool=stratum2+tcp://b.example:3336/KEY".into(),
                "--sv2-hashrate=1500000000".into(),
                "--threads=2".into(),
                "--user=bc1qexample.rig1".into(),
            ])
        );
    }

    #[test]
    fn energy_meters_are_a_list_key() {
        let text = "energy = [\"rapl\", \"declared:asic=12W\"]\nenergy_price = 0.12\n";
        assert_eq!(
            flags_of(text),
            Ok(vec![
                "--energy=rapl".to_string(),
                "--energy=declared:asic=12W".into(),
                "--energy-price=0.12".into(),
            ])
        );
    }

    #[test]
    fn a_flag_on_the_command_line_replaces_its_key() {
        let text = "pool = [\"stratum+tcp://a:1\"]\nuser = \"w\"\nthreads = 2\n";
        assert_eq!(
            flags(&mine(), text, |id| id == "pool" || id == "threads"),
            Ok(vec!["--user=w".to_string()])
        );
    }

    #[test]
    fn bad_keys_and_values_say_which_and_why() {
        for (text, why) in [
            ("pass = \"hunter2\"", "`pass` would keep a password in the config; use pass-file or SHA256D_POOL_PASS"),
            ("rpc_pass = \"x\"", "`rpc_pass` would keep a password in the config; use rpc-pass-file or SHA256D_RPC_PASS"),
            ("shares = 3\nconfig = \"other.toml\"", "`config` is not a flag of `sha256d mine`"),
            ("sharez = 3", "`sharez` is not a flag of `sha256d mine`"),
            ("\"\\u001b[2J\" = 1", "`\\x1b[2J` is not a flag of `sha256d mine`"),
            ("user = [\"a\", \"b\"]", "`user` takes one value, not a list"),
            ("json = \"yes\"", "`json` is a switch: true or false"),
            ("shares = { n = 3 }", "`shares` takes a string or a number, as its flag does"),
        ] {
            assert_eq!(flags_of(text), Err(why.to_string()), "{text}");
        }
        let err = flags_of("pool = [").expect_err("not TOML");
        assert!(!err.is_empty() && !err.contains('\n'), "{err}");
    }

    #[test]
    fn the_command_line_is_kept_without_a_config() {
        let args: Vec<OsString> = [
            "sha256d",
            "mine",
            "--pool",
            "stratum+tcp://a:1",
            "--user",
            "w",
        ]
        .map(OsString::from)
        .to_vec();
        assert_eq!(
            expand(&crate::Cli::command(), args.clone()).ok(),
            Some(args)
        );
    }
}
