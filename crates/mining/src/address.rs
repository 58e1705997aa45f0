//! Payout addresses to output scripts: base58check (P2PKH, P2SH), bech32 (segwit v0) and
//! bech32m (v1+, e.g. P2TR) for mainnet, testnet/signet and regtest.

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
    let data = base58_decode(address)?;
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

fn base58_decode(text: &str) -> Result<Vec<u8>, Error> {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    // Addresses are short; longer text is not one, and the quadratic loop below stays cheap.
    if text.is_empty() || text.len() > 100 {
        return Err(Error::invalid(format!(
            "{text:?} is not an address (expected base58 or bech32)"
        )));
    }
    // Big-endian base-256 digits of the number, built one base-58 digit at a time.
    let mut number: Vec<u8> = Vec::new();
    for (i, c) in text.bytes().enumerate() {
        let digit = ALPHABET.iter().position(|&a| a == c).ok_or_else(|| {
            Error::invalid(format!(
                "{text}: character {:?} at position {i} is not base58 or bech32",
                char::from(c)
            ))
        })?;
        let mut carry = digit as u32;
        for byte in number.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            number.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    // Each leading '1' is a leading zero byte.
    let zeros = text.bytes().take_while(|&c| c == b'1').count();
    let mut out = vec![0u8; zeros];
    out.extend_from_slice(&number);
    Ok(out)
}

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_CONST: u32 = 1;
const BECH32M_CONST: u32 = 0x2bc8_30a3;

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    values.fold(1u32, |chk, v| {
        let top = chk >> 25;
        let mut chk = (chk & 0x01ff_ffff) << 5 ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if top >> i & 1 == 1 {
                chk ^= g;
            }
        }
        chk
    })
}

/// Decodes a BIP173/BIP350 segwit address (`hrp` and `data` cut from its lower-case form)
/// into its output script.
fn segwit_script(address: &str, hrp: &str, data: &str) -> Result<Vec<u8>, Error> {
    let bad = |why: &str| Error::invalid(format!("{address}: {why}"));
    if address.len() > 90 {
        return Err(bad("longer than the 90 characters bech32 allows"));
    }
    let has_lower = address.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = address.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(bad("mixes upper and lower case"));
    }
    let values: Vec<u8> = data
        .bytes()
        .map(|c| CHARSET.iter().position(|&a| a == c).map(|v| v as u8))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("holds a character outside the bech32 alphabet"))?;
    if values.len() < 6 + 1 {
        return Err(bad("too short"));
    }
    let expanded = hrp
        .bytes()
        .map(|b| b >> 5)
        .chain([0])
        .chain(hrp.bytes().map(|b| b & 31))
        .chain(values.iter().copied());
    let constant = polymod(expanded);
    let (payload, _) = values.split_at(values.len() - 6);
    let version = payload[0];
    let want = if version == 0 {
        BECH32_CONST
    } else {
        BECH32M_CONST
    };
    if constant != want {
        return Err(if constant == BECH32_CONST || constant == BECH32M_CONST {
            bad("uses the wrong checksum variant for its witness version (bech32 for v0, bech32m for v1+)")
        } else {
            bad("bad checksum (a typo in the address?)")
        });
    }
    let program = regroup(&payload[1..]).ok_or_else(|| bad("bad padding in the data part"))?;
    if version > 16 {
        return Err(bad("witness version above 16"));
    }
    if !(2..=40).contains(&program.len()) || version == 0 && ![20, 32].contains(&program.len()) {
        return Err(bad(&format!(
            "wrong witness program length {} for version {version}",
            program.len()
        )));
    }
    let op = if version == 0 { 0 } else { 0x50 + version };
    let mut script = vec![op, program.len() as u8];
    script.extend_from_slice(&program);
    Ok(script)
}

/// 5-bit groups to bytes; `None` when the padding is longer than 4 bits or not zero.
fn regroup(values: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &v in values {
        acc = acc << 5 | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 5 && acc == 0).then_some(out)
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
