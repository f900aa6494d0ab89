//! Fixed-width byte strings that travel as CBOR byte strings (and as hex in JSON).

use serde::de::{Error as _, Visitor};
use serde::{Deserializer, Serializer};

/// Serialises `[u8; N]` as a byte string in binary formats and lower-case hex in text formats.
pub fn serialize<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

/// Reads what [`serialize`] wrote; the length must be exactly `N`.
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct Fixed<const N: usize>;
    impl<const N: usize> Visitor<'_> for Fixed<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(
                f,
                "a byte string of exactly {N} bytes or {} hex digits",
                N * 2
            )
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            <[u8; N]>::try_from(v).map_err(|_| E::invalid_length(v.len(), &self))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let raw = hex::decode(v).map_err(|e| E::custom(format!("bad hex: {e}")))?;
            <[u8; N]>::try_from(raw.as_slice()).map_err(|_| E::invalid_length(raw.len(), &self))
        }
    }
    if deserializer.is_human_readable() {
        deserializer.deserialize_str(Fixed::<N>)
    } else {
        deserializer
            .deserialize_bytes(Fixed::<N>)
            .map_err(|e| D::Error::custom(format!("{e}")))
    }
}
