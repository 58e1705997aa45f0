//! `serde` support (feature `serde`): the hash, target and header types travel as the hex
//! strings explorers and node RPCs show, so JSON written by one tool reads in another.

use crate::{CompactTarget, Hash, Header, Target};
use alloc::string::{String, ToString};
use core::fmt;
use core::str::FromStr;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

struct FromText<T>(core::marker::PhantomData<T>, &'static str);

impl<T: FromStr<Err = crate::Error>> Visitor<'_> for FromText<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

macro_rules! as_text {
    ($ty:ty, $what:literal, $to_text:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let text: String = $to_text(self);
                s.serialize_str(&text)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(FromText(core::marker::PhantomData, $what))
            }
        }
    };
}

as_text!(
    Hash,
    "a block hash as 64 hex digits, explorer byte order",
    |h: &Hash| h.to_string()
);
as_text!(
    Target,
    "a target as 64 hex digits, most significant first",
    |t: &Target| t.to_be_hex()
);
as_text!(
    CompactTarget,
    "nBits as 8 hex digits",
    |c: &CompactTarget| c.to_string()
);
as_text!(
    Header,
    "a block header as 160 hex digits of wire form",
    |h: &Header| h.to_hex()
);

#[cfg(test)]
mod tests {
    use crate::{Found, Header, Target};

    #[test]
    fn types_travel_as_the_hex_people_read() {
        let genesis = Header::genesis();
        let found = Found::new(genesis.version, genesis.nonce, genesis.block_hash());
        let json = serde_json::to_string(&(genesis, found, Target::DIFFICULTY_1, genesis.bits))
            .expect("serializes");
        assert_eq!(
            json,
            format!(
                "[\"{}\",{{\"version\":1,\"nonce\":2083236893,\"hash\":\"{}\"}},\"{}\",\"1d00ffff\"]",
                crate::GENESIS_HEADER_HEX,
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
                "00000000ffff0000000000000000000000000000000000000000000000000000",
            )
        );
        let back: (Header, Found, Target, crate::CompactTarget) =
            serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, (genesis, found, Target::DIFFICULTY_1, genesis.bits));
        let bad = serde_json::from_str::<Header>("\"00\"").expect_err("short header");
        assert!(bad.to_string().contains("80 bytes"), "{bad}");
    }
}
