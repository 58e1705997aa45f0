//! Payout addresses to output scripts: base58check (P2PKH, P2SH), bech32 (segwit v0) and
//! bech32m (v1+, e.g. P2TR) for mainnet, testnet/signet and regtest. The `bs58` and `bech32`
//! crates decode; this file knows which scripts Bitcoin's addresses stand for and says in
//! plain words what is wrong with one that does not decode.

use bech32::primitives::decode::{
    CharError, CheckedHrpstring, SegwitHrpstringError, UncheckedHrpstringError,
};
use bech32::{Bech32, Bech32m, Fe32};
use sha256d::hazmat::hex;
use sha256d::hazmat::sha256d;
use sha256d::Error;

/// The output script (scriptPubKey) that pays `address`.
///
/// Accepts base58check P2PKH (version 0 mainnet, 111 testnet/regtest) and P2SH (5, 196),
/// bech32/bech32m segwit addresses with the prefixes `bc`, `tb` and `bcrt`, and `raw:<hex>`
/// for any other script. The network is not checked against the node's: a testnet address on
/// regtest is valid either way (they share base58 versions).
pub fn script_for_address(address: &str) -> Result<Vec<u8>, Error> {
    let address = address.trim();
    if let Some(script) = address.strip_prefix("raw:") {
        let script = hex::decode(script)?;
        // Core's standardness limit for an output script is far below this; this only keeps
        // an obviously wrong value out of the coinbase.
        if script.is_empty() || script.len() > 10_000 {
            return Err(Error::invalid(format!(
                "a raw payout script must be 1 to 10000 bytes, got {}",
                script.len()
            )));
        }
        return Ok(script);
    }
    let lower = address.to_ascii_lowercase();
    for hrp in ["bc", "tb", "bcrt"] {
        if let Some(data) = lower.strip_prefix(hrp).and_then(|r| r.strip_prefix('1')) {
            return segwit_script(address, hrp, data);
        }
    }
    base58_script(address)
}

fn base58_script(address: &str) -> Result<Vec<u8>, Error> {
    // Addresses are short; longer text is not one, and base58 decoding is quadratic.
    if address.is_empty() || address.len() > 100 {
        return Err(Error::invalid(format!(
            "{address:?} is not an address (expected base58 or bech32)"
        )));
    }
    let data = bs58::decode(address).into_vec().map_err(|e| {
        Error::invalid(match e {
            bs58::decode::Error::InvalidCharacter { character, index } => format!(
                "{address}: character {character:?} at position {index} is not base58 or bech32"
            ),
            other => format!("{address}: not base58 ({other})"),
        })
    })?;
    if data.len() < 5 {
        return Err(Error::invalid(format!(
            "{address}: too short to be an address"
        )));
    }
    let (payload, checksum) = data.split_at(data.len() - 4);
    if sha256d(payload)[..4] != *checksum {
        return Err(Error::invalid(format!(
            "{address}: bad checksum (a typo in the address?)"
        )));
    }
    if payload.len() != 21 {
        return Err(Error::invalid(format!(
            "{address}: a base58 address carries 21 bytes, this one {}",
            payload.len()
        )));
    }
    let hash = &payload[1..];
    match payload[0] {
        // P2PKH: OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG
        0 | 111 => Ok([&[0x76, 0xa9, 0x14][..], hash, &[0x88, 0xac]].concat()),
        // P2SH: OP_HASH160 <20> OP_EQUAL
        5 | 196 => Ok([&[0xa9, 0x14][..], hash, &[0x87]].concat()),
        v => Err(Error::invalid(format!(
            "{address}: unknown base58 version byte {v} (not a Bitcoin P2PKH or P2SH address)"
        ))),
    }
}

/// Decodes a BIP173/BIP350 segwit address whose prefix is `hrp` (and whose lower-case data
/// part is `data`) into its output script.
fn segwit_script(address: &str, hrp: &str, data: &str) -> Result<Vec<u8>, Error> {
    let bad = |why: String| Error::invalid(format!("{address}: {why}"));
    // The decoder takes the last '1' as the separator, so a stray one would read as a
    // malformed prefix; ours is known, and so is where the data starts.
    if data.chars().any(|c| Fe32::from_char(c).is_err()) {
        return Err(bad("holds a character outside the bech32 alphabet".into()));
    }
    let (got, version, program) =
        bech32::segwit::decode(address).map_err(|e| bad(segwit_error(address, &e.0)))?;
    if !got.as_str().eq_ignore_ascii_case(hrp) {
        return Err(bad(format!("is not for the {hrp} network")));
    }
    let op = match version.to_u8() {
        0 => 0,
        v => 0x50 + v,
    };
    let mut script = vec![op, program.len() as u8];
    script.extend_from_slice(&program);
    Ok(script)
}

/// What is wrong with a segwit address, in the words the tests and users see.
fn segwit_error(address: &str, e: &SegwitHrpstringError) -> String {
    match e {
        SegwitHrpstringError::TooLong(_) => "longer than the 90 characters bech32 allows".into(),
        SegwitHrpstringError::Unchecked(UncheckedHrpstringError::Char(CharError::MixedCase)) => {
            "mixes upper and lower case".into()
        }
        SegwitHrpstringError::NoData => "too short".into(),
        SegwitHrpstringError::InvalidWitnessVersion(_) => "witness version above 16".into(),
        SegwitHrpstringError::Padding(_) => "bad padding in the data part".into(),
        SegwitHrpstringError::WitnessLength(e) => format!("wrong witness program length ({e})"),
        SegwitHrpstringError::Checksum(_) => {
            let other = CheckedHrpstring::new::<Bech32>(address).is_ok()
                || CheckedHrpstring::new::<Bech32m>(address).is_ok();
            if other {
                "uses the wrong checksum variant for its witness version (bech32 for v0, \
                 bech32m for v1+)"
                    .into()
            } else {
                "bad checksum (a typo in the address?)".into()
            }
        }
        other => format!("not a segwit address ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn theirs(address: &str) -> Vec<u8> {
        bitcoin::Address::from_str(address)
            .expect("rust-bitcoin parses the vector")
            .assume_checked()
            .script_pubkey()
            .to_bytes()
    }

    /// Real addresses from every network and type, against rust-bitcoin.
    #[test]
    fn matches_rust_bitcoin() {
        for address in [
            // Mainnet: the genesis coinbase's P2PKH, a P2SH, BIP173/BIP350 P2WPKH, P2WSH, P2TR.
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            // Testnet / regtest base58 and bech32.
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
            "bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x",
            "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6",
        ] {
            assert_eq!(
                script_for_address(address),
                Ok(theirs(address)),
                "{address}"
            );
        }
    }

    /// Every script type re-encoded by rust-bitcoin for every network decodes back to itself.
    #[test]
    fn round_trips_every_network() {
        use bitcoin::{Network, Script};
        for mainnet in [
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ] {
            let script = theirs(mainnet);
            for network in [Network::Testnet, Network::Signet, Network::Regtest] {
                let address = bitcoin::Address::from_script(Script::from_bytes(&script), network)
                    .expect("a standard script")
                    .to_string();
                assert_eq!(
                    script_for_address(&address),
                    Ok(script.clone()),
                    "{address}"
                );
            }
        }
    }

    #[test]
    fn script_shapes() {
        let p2pkh = script_for_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").expect("valid");
        assert_eq!(
            hex::encode(&p2pkh),
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
        );
        let p2tr =
            script_for_address("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0")
                .expect("valid");
        assert_eq!(&p2tr[..2], &[0x51, 0x20]);
        assert_eq!(
            script_for_address("raw:51"),
            Ok(vec![0x51]),
            "OP_TRUE, anyone can spend"
        );
    }

    #[test]
    fn bad_addresses_say_why() {
        for (address, why) in [
            // One character changed in each.
            ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "bad checksum"),
            ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bad checksum"),
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jjq",
                "bad checksum",
            ),
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj1",
                "outside the bech32",
            ),
            // A v1 program under a bech32 (not bech32m) checksum: BIP350's test vector.
            (
                "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
                "wrong checksum variant",
            ),
            (
                "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
                "wrong checksum variant",
            ),
            // BIP173: v0 with a 16-byte program.
            (
                "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
                "wrong witness program length",
            ),
            (
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
                "mixes",
            ),
            ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t9", "bad checksum"),
            (
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t!",
                "outside the bech32",
            ),
            ("0OIl", "not base58"),
            ("", "not an address"),
            ("1111", "too short"),
            ("raw:", "1 to 10000 bytes"),
            ("raw:zz", "invalid hex"),
        ] {
            let err = script_for_address(address).expect_err(address);
            assert!(err.message().contains(why), "{address}: {err}");
        }
        let long = format!("bc1q{}", "q".repeat(90));
        let err = script_for_address(&long).expect_err("too long");
        assert!(err.message().contains("longer than the 90"), "{err}");
        let err = script_for_address("bc1cqqqqqqqqqqqqqqqq").expect_err("version 24");
        assert!(err.message().contains("witness version above 16"), "{err}");
        // Valid base58check with a version byte that is not Bitcoin's (Litecoin's 48), and
        // a payload of the wrong length.
        let litecoin = bitcoin::base58::encode_check(&[[48u8].as_slice(), &[7; 20]].concat());
        let err = script_for_address(&litecoin).expect_err("not bitcoin");
        assert!(
            err.message().contains("unknown base58 version byte 48"),
            "{err}"
        );
        let long = bitcoin::base58::encode_check(&[0u8; 22]);
        let err = script_for_address(&long).expect_err("22 bytes");
        assert!(err.message().contains("carries 21 bytes"), "{err}");
    }
}
