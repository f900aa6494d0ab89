//! EF.SOD: the document security object (tag `77`), a SignedData over the LDSSecurityObject that
//! lists every data group's hash.

use std::collections::BTreeMap;

use der::asn1::{ObjectIdentifier, OctetString, PrintableString};
use der::{Decode, Sequence, Tag, TagNumber, Tagged};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::{DataGroup, LdsError, SignedContent};

/// Largest EF.SOD accepted: real ones are 2 to 8 KB, one with a few certificates stays far below.
pub const SOD_BYTES_MAX: usize = 64 * 1024;
/// id-icao-mrtd-security-ldsSecurityObject.
pub const LDS_SECURITY_OBJECT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.1");
/// EF.SOD's outer tag: application 23, constructed.
const SOD_TAG: Tag = Tag::Application {
    constructed: true,
    number: TagNumber::N23,
};
const FILE: &str = "EF.SOD";

/// `DataGroupHash ::= SEQUENCE { dataGroupNumber, dataGroupHashValue }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct DataGroupHash {
    /// 1 to 16.
    pub data_group_number: u8,
    /// The hash of the data group's whole file.
    pub data_group_hash_value: OctetString,
}

/// `LDSVersionInfo ::= SEQUENCE { ldsVersion, unicodeVersion }` (LDS 1.8).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct LdsVersionInfo {
    /// `0108`…
    pub lds_version: PrintableString,
    /// `040000`…
    pub unicode_version: PrintableString,
}

/// `LDSSecurityObject` (Doc 9303-10 §4.6.2).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct LdsSecurityObject {
    /// 0 (LDS 1.7) or 1 (LDS 1.8, with version info).
    pub version: u8,
    /// The hash algorithm of every data-group hash.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// One hash per data group the chip holds.
    pub data_group_hash_values: Vec<DataGroupHash>,
    /// LDS and Unicode versions (version 1).
    #[asn1(optional = "true")]
    pub lds_version_info: Option<LdsVersionInfo>,
}

/// EF.SOD read: the signature envelope and the hashes it signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sod {
    /// The SignedData: content, carried certificates, signer.
    pub signed: SignedContent,
    /// The hash algorithm of the data-group hashes.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// Each listed data group's hash.
    pub data_group_hashes: BTreeMap<DataGroup, Vec<u8>>,
}

impl Sod {
    /// Reads EF.SOD from the file's bytes (outer tag `77` included).
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        if bytes.len() > SOD_BYTES_MAX {
            return Err(LdsError::TooLarge {
                file: FILE,
                len: bytes.len(),
                max: SOD_BYTES_MAX,
            });
        }
        let outer = der::AnyRef::from_der(bytes).map_err(|e| LdsError::encoding(FILE, e))?;
        if outer.tag() != SOD_TAG {
            return Err(LdsError::WrongTag {
                file: FILE,
                found: format!("{:02X}", u8::from(outer.tag())),
                expected: "77",
            });
        }
        let signed = SignedContent::parse(outer.value(), FILE, LDS_SECURITY_OBJECT)?;
        let object = LdsSecurityObject::from_der(&signed.content)
            .map_err(|e| LdsError::encoding(FILE, format!("LDSSecurityObject: {e}")))?;
        if object.version > 1 {
            return Err(LdsError::content(
                FILE,
                format!("LDSSecurityObject version {}", object.version),
            ));
        }
        let data_group_hashes = hashes_by_group(&object.data_group_hash_values)?;
        Ok(Self {
            signed,
            hash_algorithm: object.hash_algorithm,
            data_group_hashes,
        })
    }
}

/// The hashes keyed by data group; a number out of range or listed twice is refused.
fn hashes_by_group(listed: &[DataGroupHash]) -> Result<BTreeMap<DataGroup, Vec<u8>>, LdsError> {
    let mut hashes = BTreeMap::new();
    for entry in listed {
        let group = DataGroup::new(entry.data_group_number).ok_or_else(|| {
            LdsError::content(
                FILE,
                format!("data group number {}", entry.data_group_number),
            )
        })?;
        let hash = entry.data_group_hash_value.as_bytes().to_vec();
        if hashes.insert(group, hash).is_some() {
            return Err(LdsError::content(FILE, format!("{group} listed twice")));
        }
    }
    if hashes.is_empty() {
        return Err(LdsError::content(FILE, "no data-group hash"));
    }
    Ok(hashes)
}
