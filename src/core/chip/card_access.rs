//! EF.CardAccess (Doc 9303-11 section 9.2): the SecurityInfos a chip offers before access
//! control, of which this reader uses the PACEInfos.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Reader, SliceReader, Tag, Tagged};

use super::ChipError;
use super::crypto::Cipher;

/// id-PACE (BSI TR-03110-3 A.1.1.1): 0.4.0.127.0.7.2.2.4.
const ID_PACE: &str = "0.4.0.127.0.7.2.2.4";

/// The mapping of a PACE protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Generic mapping (GM).
    Generic,
    /// Integrated mapping (IM).
    Integrated,
    /// Chip authentication mapping (CAM).
    ChipAuthentication,
}

impl Mapping {
    /// Its short name in reports: GM, IM or CAM.
    pub fn code(self) -> &'static str {
        match self {
            Self::Generic => "GM",
            Self::Integrated => "IM",
            Self::ChipAuthentication => "CAM",
        }
    }
}

/// One PACEInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceInfo {
    /// The protocol OID (sent in MSE:Set AT and the authentication tokens).
    pub protocol: ObjectIdentifier,
    /// Diffie-Hellman over elliptic curves (true) or finite fields.
    pub elliptic: bool,
    /// The mapping.
    pub mapping: Mapping,
    /// The cipher of the session.
    pub cipher: Cipher,
    /// The protocol version (2 for Doc 9303).
    pub version: u32,
    /// The standardised domain parameters, when given.
    pub parameter_id: Option<u32>,
}

/// Parses EF.CardAccess (a SET OF SecurityInfo, its elements in any order) into its PACEInfos;
/// other SecurityInfos are skipped, PACE OIDs of unknown shape are an error.
pub fn parse(bytes: &[u8]) -> Result<Vec<PaceInfo>, ChipError> {
    let err = |why: String| ChipError::CardAccess { why };
    let mut infos = Vec::new();
    for (index, element) in security_infos(bytes).map_err(err)?.into_iter().enumerate() {
        let number = index + 1;
        if let Some(info) =
            security_info(element).map_err(|e| err(format!("SecurityInfo {number}: {e}")))?
        {
            infos.push(info);
        }
    }
    Ok(infos)
}

/// The elements of a DER `SET OF SecurityInfo` (EF.CardAccess, DG14, EF.CardSecurity's
/// content), each a SEQUENCE to be read by its protocol OID.
pub fn security_infos(bytes: &[u8]) -> Result<Vec<AnyRef<'_>>, String> {
    let set = AnyRef::from_der(bytes).map_err(|e| format!("not one DER object: {e}"))?;
    if set.tag() != Tag::Set {
        return Err(format!("outer tag is {} rather than SET", set.tag()));
    }
    let mut reader = SliceReader::new(set.value()).map_err(|e| e.to_string())?;
    let mut elements = Vec::new();
    while !reader.is_finished() {
        let element: AnyRef<'_> = reader
            .decode()
            .map_err(|e| format!("SecurityInfo {}: {e}", elements.len() + 1))?;
        if element.tag() != Tag::Sequence {
            return Err(format!(
                "SecurityInfo {}: tag {} rather than SEQUENCE",
                elements.len() + 1,
                element.tag()
            ));
        }
        elements.push(element);
    }
    Ok(elements)
}

fn security_info(element: AnyRef<'_>) -> Result<Option<PaceInfo>, String> {
    let mut reader = SliceReader::new(element.value()).map_err(|e| e.to_string())?;
    let protocol: ObjectIdentifier = reader.decode().map_err(|e| format!("protocol OID: {e}"))?;
    let Some(arcs) = pace_arcs(&protocol) else {
        return Ok(None);
    };
    let version: u32 = reader
        .decode()
        .map_err(|e| format!("PACEInfo version: {e}"))?;
    let parameter_id: Option<u32> = if reader.is_finished() {
        None
    } else {
        Some(
            reader
                .decode()
                .map_err(|e| format!("PACEInfo parameterId: {e}"))?,
        )
    };
    if !reader.is_finished() {
        return Err("PACEInfo has trailing data".into());
    }
    let (elliptic, mapping) = match arcs.0 {
        1 => (false, Mapping::Generic),
        2 => (true, Mapping::Generic),
        3 => (false, Mapping::Integrated),
        4 => (true, Mapping::Integrated),
        6 => (true, Mapping::ChipAuthentication),
        other => return Err(format!("unknown PACE key agreement/mapping arc {other}")),
    };
    let cipher = match arcs.1 {
        1 => Cipher::Tdes,
        2 => Cipher::Aes128,
        3 => Cipher::Aes192,
        4 => Cipher::Aes256,
        other => return Err(format!("unknown PACE cipher arc {other}")),
    };
    Ok(Some(PaceInfo {
        protocol,
        elliptic,
        mapping,
        cipher,
        version,
        parameter_id,
    }))
}

/// The two arcs after id-PACE (mapping, cipher), or `None` for a non-PACE OID.
fn pace_arcs(oid: &ObjectIdentifier) -> Option<(u32, u32)> {
    let text = oid.to_string();
    let rest = text.strip_prefix(ID_PACE)?.strip_prefix('.')?;
    let mut arcs = rest.split('.');
    let first = arcs.next()?.parse().ok()?;
    let second = arcs.next()?.parse().ok()?;
    arcs.next().is_none().then_some((first, second))
}

/// Encodes PACEInfos back into EF.CardAccess (the simulator's file).
pub fn encode(infos: &[PaceInfo]) -> Vec<u8> {
    use super::tlv::encode as tlv;
    let mut body = Vec::new();
    for info in infos {
        let mut sequence = tlv(&[0x06], info.protocol.as_bytes());
        sequence.extend(tlv(&[0x02], &integer(info.version)));
        if let Some(id) = info.parameter_id {
            sequence.extend(tlv(&[0x02], &integer(id)));
        }
        body.extend(tlv(&[0x30], &sequence));
    }
    tlv(&[0x31], &body)
}

/// A non-negative DER INTEGER's content octets.
pub(super) fn integer(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    let mut out = bytes[start..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    #[test]
    fn doc9303_appendix_g1_card_access() {
        let infos = parse(&hex("31143012060A04007F0007020204020202010202010D")).expect("parse");
        assert_eq!(infos.len(), 1);
        let info = &infos[0];
        assert_eq!(info.protocol.to_string(), "0.4.0.127.0.7.2.2.4.2.2");
        assert!(info.elliptic);
        assert_eq!(
            (info.mapping, info.cipher, info.version, info.parameter_id),
            (Mapping::Generic, Cipher::Aes128, 2, Some(13))
        );
        assert_eq!(
            encode(&infos),
            hex("31143012060A04007F0007020204020202010202010D")
        );
    }

    #[test]
    fn dh_pace_oids_with_standardised_groups_parse_and_encode_back() {
        for (arc, cipher) in [(1, Cipher::Tdes), (2, Cipher::Aes128), (4, Cipher::Aes256)] {
            for id in 0..=2 {
                let bytes = hex(&format!(
                    "31143012060A04007F0007020204010{arc}0201020201{id:02X}"
                ));
                let info = parse(&bytes).expect("parse").remove(0);
                assert_eq!(
                    (info.elliptic, info.mapping, info.cipher, info.parameter_id),
                    (false, Mapping::Generic, cipher, Some(id))
                );
                assert_eq!(
                    info.protocol.to_string(),
                    format!("0.4.0.127.0.7.2.2.4.1.{arc}")
                );
                assert_eq!(encode(&[info]), bytes);
            }
        }
    }

    #[test]
    fn other_security_infos_are_skipped_in_any_order() {
        // A CA info (0.4.0.127.0.7.2.2.3.2.2) then an ECDH-CAM PACEInfo, not in DER SET order.
        let bytes = hex("3012060A04007F0007020204060202010202010D");
        assert!(parse(&bytes).is_err(), "a bare SEQUENCE is not a SET");
        let ca = "3012060A04007F00070202030202020102020110";
        let pace = "3012060A04007F0007020204060202010202010D";
        let both = hex(&format!("3128{ca}{pace}"));
        let infos = parse(&both).expect("parse");
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].mapping, Mapping::ChipAuthentication);
    }

    #[test]
    fn malformed_card_access_says_where() {
        let error = parse(&hex("31083006060A04007F00")).expect_err("truncated");
        assert!(matches!(error, ChipError::CardAccess { .. }), "{error}");
        let unknown_cipher = hex("31143012060A04007F0007020204020902010202010D");
        let error = parse(&unknown_cipher).expect_err("cipher 9");
        assert!(error.to_string().contains("SecurityInfo 1"), "{error}");
    }
}
