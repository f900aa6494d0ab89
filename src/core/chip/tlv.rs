//! BER-TLV of the protocol messages: encoding the few data objects the reader builds
//! (definite minimal length), and parsing outside bytes through the `iso7816-tlv` crate with
//! the tags each step allows.

use iso7816_tlv::ber::{Tlv, Value};

use super::ChipError;

/// Encodes one data object: tag bytes, DER length, value.
pub fn encode(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + value.len() + 4);
    out.extend_from_slice(tag);
    let len = value.len();
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(value);
    out
}

/// Splits `data` into top-level primitive data objects `(first tag byte, value)`, refusing any
/// tag outside `allowed` (checked before parsing so no hostile nesting is ever followed).
pub fn primitives(
    data: &[u8],
    allowed: &[u8],
    step: &'static str,
) -> Result<Vec<(u8, Vec<u8>)>, ChipError> {
    let mut rest = data;
    let mut out = Vec::new();
    while let Some(&tag) = rest.first() {
        if !allowed.contains(&tag) {
            return Err(ChipError::Malformed {
                step,
                what: format!("unexpected tag {tag:02X}"),
            });
        }
        let (parsed, tail) = Tlv::parse(rest);
        let tlv = parsed.map_err(|e| ChipError::Malformed {
            step,
            what: format!("data object {tag:02X}: {e}"),
        })?;
        match tlv.value() {
            Value::Primitive(value) => out.push((tag, value.clone())),
            Value::Constructed(_) => {
                return Err(ChipError::Malformed {
                    step,
                    what: format!("{tag:02X} is constructed"),
                });
            }
        }
        rest = tail;
    }
    Ok(out)
}

/// The value of the one data object tagged `tag` inside a dynamic authentication data
/// template (`7C`), as GENERAL AUTHENTICATE answers.
pub fn dynamic_auth_value(data: &[u8], tag: u8, step: &'static str) -> Result<Vec<u8>, ChipError> {
    // A 7C answer is at most a few hundred bytes; the bound also bounds the parser's nesting.
    if data.len() > 1024 || data.first() != Some(&0x7C) {
        return Err(ChipError::Malformed {
            step,
            what: "dynamic authentication data".into(),
        });
    }
    let tlv = Tlv::from_bytes(data).map_err(|e| ChipError::Malformed {
        step,
        what: format!("7C template: {e}"),
    })?;
    let Value::Constructed(children) = tlv.value() else {
        return Err(ChipError::Malformed {
            step,
            what: "7C is not constructed".into(),
        });
    };
    children
        .iter()
        .find(|child| child.tag().to_bytes() == [tag])
        .and_then(|child| match child.value() {
            Value::Primitive(value) => Some(value.clone()),
            Value::Constructed(_) => None,
        })
        .ok_or_else(|| ChipError::Malformed {
            step,
            what: format!("7C holds no {tag:02X}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_encode_minimally() {
        assert_eq!(encode(&[0x80], &[1]), vec![0x80, 1, 1]);
        assert_eq!(encode(&[0x87], &[0; 200])[..3], [0x87, 0x81, 200]);
        assert_eq!(encode(&[0x87], &[0; 300])[..4], [0x87, 0x82, 1, 44]);
    }

    #[test]
    fn foreign_and_truncated_objects_are_refused() {
        assert!(primitives(&[0x99, 2, 0x90, 0], &[0x99], "t").is_ok());
        assert!(primitives(&[0xA7, 2, 0x99, 0], &[0x99], "t").is_err());
        assert!(primitives(&[0x99, 5, 0x90], &[0x99], "t").is_err());
        let nested = [vec![0x7C; 600], vec![0; 600]].concat();
        assert!(dynamic_auth_value(&nested, 0x80, "t").is_err());
        assert_eq!(
            dynamic_auth_value(&[0x7C, 3, 0x80, 1, 9], 0x80, "t").expect("value"),
            vec![9]
        );
    }
}
