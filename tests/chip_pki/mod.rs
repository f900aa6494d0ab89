//! A test PKI made by the tests themselves: CSCA → document signer → EF.SOD over generated data
//! groups, CRLs and CSCA master lists, for RSA (PKCS#1 v1.5 and PSS) and ECDSA (NIST and
//! brainpool curves). Keys are made once per test binary and kept.
//!
//! Shared by the unit tests of `core::passive_auth`, `tests/chip_verify.rs` and the benchmark;
//! each uses a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, BitString, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Tag, TagNumber};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509Builder, X509NameBuilder};
use x509_cert::attr::Attribute;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

/// 2020-01-01T00:00:00Z.
pub const Y2020: i64 = 1_577_836_800;
/// One (non-leap) year in seconds.
pub const YEAR: i64 = 365 * 86_400;

/// A key kind the PKI can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Rsa2048,
    P256,
    P384,
    P521,
    Brainpool256,
    Brainpool384,
    Brainpool512,
}

/// The key of `kind` for `slot` (one key per kind and slot, made once per test binary).
pub fn key(kind: KeyKind, slot: u8) -> PKey<Private> {
    type Keys = Mutex<HashMap<(KeyKind, u8), PKey<Private>>>;
    static KEYS: OnceLock<Keys> = OnceLock::new();
    let keys = KEYS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut keys = keys.lock().expect("key cache");
    keys.entry((kind, slot))
        .or_insert_with(|| make_key(kind))
        .clone()
}

fn make_key(kind: KeyKind) -> PKey<Private> {
    let curve = match kind {
        KeyKind::Rsa2048 => {
            return PKey::from_rsa(Rsa::generate(2048).expect("RSA key")).expect("PKey");
        }
        KeyKind::P256 => Nid::X9_62_PRIME256V1,
        KeyKind::P384 => Nid::SECP384R1,
        KeyKind::P521 => Nid::SECP521R1,
        KeyKind::Brainpool256 => Nid::BRAINPOOL_P256R1,
        KeyKind::Brainpool384 => Nid::BRAINPOOL_P384R1,
        KeyKind::Brainpool512 => Nid::BRAINPOOL_P512R1,
    };
    let group = EcGroup::from_curve_name(curve).expect("curve");
    PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("PKey")
}

/// The hash algorithms of Doc 9303.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn oid(self) -> ObjectIdentifier {
        ObjectIdentifier::new_unwrap(match self {
            Self::Sha1 => "1.3.14.3.2.26",
            Self::Sha224 => "2.16.840.1.101.3.4.2.4",
            Self::Sha256 => "2.16.840.1.101.3.4.2.1",
            Self::Sha384 => "2.16.840.1.101.3.4.2.2",
            Self::Sha512 => "2.16.840.1.101.3.4.2.3",
        })
    }

    pub fn md(self) -> MessageDigest {
        match self {
            Self::Sha1 => MessageDigest::sha1(),
            Self::Sha224 => MessageDigest::sha224(),
            Self::Sha256 => MessageDigest::sha256(),
            Self::Sha384 => MessageDigest::sha384(),
            Self::Sha512 => MessageDigest::sha512(),
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        openssl::hash::hash(self.md(), data)
            .expect("digest")
            .to_vec()
    }

    fn index(self) -> usize {
        match self {
            Self::Sha1 => 0,
            Self::Sha224 => 1,
            Self::Sha256 => 2,
            Self::Sha384 => 3,
            Self::Sha512 => 4,
        }
    }
}

/// How a signature is made and named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// RSA PKCS#1 v1.5, `shaNWithRSAEncryption`.
    Pkcs1,
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash.
    Pss,
    /// ECDSA, DER signature, `ecdsa-with-SHAn`.
    Ecdsa,
    /// ECDSA, plain r‖s, BSI `ecdsa-plain-SHAn`.
    EcdsaPlain,
}

/// RSASSA-PSS-params, as RFC 4055 encodes them.
#[derive(Clone, Debug, der::Sequence)]
struct PssParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    hash: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    mask_generation: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    salt_length: u32,
}

/// The AlgorithmIdentifier of a signature made with `style` and `hash`.
pub fn signature_algorithm(style: Style, hash: Hash) -> AlgorithmIdentifierOwned {
    let pick = |oids: [&str; 5]| ObjectIdentifier::new_unwrap(oids[hash.index()]);
    match style {
        Style::Pkcs1 => AlgorithmIdentifierOwned {
            oid: pick([
                "1.2.840.113549.1.1.5",
                "1.2.840.113549.1.1.14",
                "1.2.840.113549.1.1.11",
                "1.2.840.113549.1.1.12",
                "1.2.840.113549.1.1.13",
            ]),
            parameters: Some(Any::null()),
        },
        Style::Pss => {
            let hash_id = AlgorithmIdentifierOwned {
                oid: hash.oid(),
                parameters: None,
            };
            let parameters = PssParameters {
                hash: hash_id.clone(),
                mask_generation: AlgorithmIdentifierOwned {
                    oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8"),
                    parameters: Some(Any::encode_from(&hash_id).expect("MGF1 hash")),
                },
                salt_length: u32::try_from(hash.md().size()).expect("hash size"),
            };
            AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10"),
                parameters: Some(Any::encode_from(&parameters).expect("PSS parameters")),
            }
        }
        Style::Ecdsa => AlgorithmIdentifierOwned {
            oid: pick([
                "1.2.840.10045.4.1",
                "1.2.840.10045.4.3.1",
                "1.2.840.10045.4.3.2",
                "1.2.840.10045.4.3.3",
                "1.2.840.10045.4.3.4",
            ]),
            parameters: None,
        },
        Style::EcdsaPlain => AlgorithmIdentifierOwned {
            oid: pick([
                "0.4.0.127.0.7.1.1.4.1.1",
                "0.4.0.127.0.7.1.1.4.1.2",
                "0.4.0.127.0.7.1.1.4.1.3",
                "0.4.0.127.0.7.1.1.4.1.4",
                "0.4.0.127.0.7.1.1.4.1.5",
            ]),
            parameters: None,
        },
    }
}

/// `message` signed with `key` the way `style` says.
pub fn sign(key: &PKey<Private>, style: Style, hash: Hash, message: &[u8]) -> Vec<u8> {
    let mut signer = Signer::new(hash.md(), key).expect("signer");
    if style == Style::Pss {
        signer.set_rsa_padding(Padding::PKCS1_PSS).expect("PSS");
        signer.set_rsa_mgf1_md(hash.md()).expect("MGF1");
        let salt = i32::try_from(hash.md().size()).expect("salt");
        signer
            .set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt))
            .expect("salt length");
    }
    signer.update(message).expect("update");
    let signature = signer.sign_to_vec().expect("sign");
    if style != Style::EcdsaPlain {
        return signature;
    }
    let parsed = EcdsaSig::from_der(&signature).expect("ECDSA DER");
    let ec = key.ec_key().expect("EC key");
    let bits = ec.group().degree();
    let width = i32::try_from(bits.div_ceil(8)).expect("width");
    let mut plain = parsed.r().to_vec_padded(width).expect("r");
    plain.extend(parsed.s().to_vec_padded(width).expect("s"));
    plain
}

/// The default style for a key: PKCS#1 for RSA, DER ECDSA otherwise.
pub fn default_style(kind: KeyKind) -> Style {
    if kind == KeyKind::Rsa2048 {
        Style::Pkcs1
    } else {
        Style::Ecdsa
    }
}

/// What a certificate says.
#[derive(Clone, Debug)]
pub struct CertSpec {
    pub common_name: String,
    pub country: String,
    pub serial: u32,
    pub not_before: i64,
    pub not_after: i64,
    /// A CSCA (CA, keyCertSign and cRLSign) rather than a document signer (digitalSignature).
    pub ca: bool,
    /// A document signer whose key usage lacks digitalSignature.
    pub wrong_key_usage: bool,
}

impl CertSpec {
    /// A CSCA valid 2020–2040.
    pub fn csca(country: &str, serial: u32) -> Self {
        Self {
            common_name: format!("CSCA {country}"),
            country: country.to_owned(),
            serial,
            not_before: Y2020,
            not_after: Y2020 + 20 * YEAR,
            ca: true,
            wrong_key_usage: false,
        }
    }

    /// A document signer valid 2024–2034.
    pub fn dsc(country: &str, serial: u32) -> Self {
        Self {
            common_name: format!("Document Signer {country} {serial}"),
            country: country.to_owned(),
            serial,
            not_before: Y2020 + 4 * YEAR,
            not_after: Y2020 + 14 * YEAR,
            ca: false,
            wrong_key_usage: false,
        }
    }
}

/// A certificate for `subject_key`, self-signed or signed by `issuer`.
pub fn certificate(
    spec: &CertSpec,
    subject_key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> X509 {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COUNTRYNAME, &spec.country)
        .expect("C");
    name.append_entry_by_nid(Nid::COMMONNAME, &spec.common_name)
        .expect("CN");
    let name = name.build();
    let mut builder = X509Builder::new().expect("builder");
    builder.set_version(2).expect("version");
    let serial = BigNum::from_u32(spec.serial).expect("serial");
    builder
        .set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    builder.set_subject_name(&name).expect("subject");
    match issuer {
        Some((issuer, _)) => builder.set_issuer_name(issuer.subject_name()),
        None => builder.set_issuer_name(&name),
    }
    .expect("issuer");
    builder.set_pubkey(subject_key).expect("key");
    builder
        .set_not_before(&Asn1Time::from_unix(spec.not_before).expect("time"))
        .expect("not before");
    builder
        .set_not_after(&Asn1Time::from_unix(spec.not_after).expect("time"))
        .expect("not after");
    if spec.ca {
        let constraints = BasicConstraints::new().critical().ca().build().expect("bc");
        builder.append_extension(constraints).expect("bc");
        let usage = KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build();
        builder.append_extension(usage.expect("ku")).expect("ku");
    } else if spec.wrong_key_usage {
        let usage = KeyUsage::new().critical().key_encipherment().build();
        builder.append_extension(usage.expect("ku")).expect("ku");
    } else {
        let usage = KeyUsage::new().critical().digital_signature().build();
        builder.append_extension(usage.expect("ku")).expect("ku");
    }
    let signing_key = issuer.map_or(subject_key, |(_, key)| key);
    builder
        .sign(signing_key, MessageDigest::sha256())
        .expect("sign");
    builder.build()
}

/// How a SignedData is made (and, for the negative tests, broken).
#[derive(Clone, Debug)]
pub struct SignedSpec {
    pub hash: Hash,
    pub style: Style,
    pub signing_time: Option<i64>,
    /// Sign, then flip a bit of the signature.
    pub corrupt_signature: bool,
    /// Put a wrong messageDigest in the signed attributes.
    pub wrong_message_digest: bool,
    /// Name this signature algorithm instead of the real one.
    pub signature_algorithm: Option<AlgorithmIdentifierOwned>,
}

impl SignedSpec {
    pub fn new(hash: Hash, style: Style, signing_time: Option<i64>) -> Self {
        Self {
            hash,
            style,
            signing_time,
            corrupt_signature: false,
            wrong_message_digest: false,
            signature_algorithm: None,
        }
    }
}

fn x509_to_cert(certificate: &X509) -> x509_cert::Certificate {
    x509_cert::Certificate::from_der(&certificate.to_der().expect("DER")).expect("certificate")
}

fn attribute(oid: &str, value: Any) -> Attribute {
    Attribute {
        oid: ObjectIdentifier::new_unwrap(oid),
        values: SetOfVec::try_from(vec![value]).expect("attribute"),
    }
}

/// A DER ContentInfo holding SignedData over `content` of `content_type`.
pub fn signed_data(
    content_type: &str,
    content: &[u8],
    signer: &X509,
    key: &PKey<Private>,
    spec: &SignedSpec,
) -> Vec<u8> {
    let content_type = ObjectIdentifier::new_unwrap(content_type);
    let mut digest = spec.hash.digest(content);
    if spec.wrong_message_digest {
        digest[0] ^= 1;
    }
    let mut attributes = vec![
        attribute(
            "1.2.840.113549.1.9.3",
            Any::encode_from(&content_type).expect("content type"),
        ),
        attribute(
            "1.2.840.113549.1.9.4",
            Any::encode_from(&OctetString::new(digest).expect("digest")).expect("digest"),
        ),
    ];
    if let Some(time) = spec.signing_time {
        let seconds = std::time::Duration::from_secs(u64::try_from(time).expect("time"));
        let time = UtcTime::from_unix_duration(seconds).expect("UTC time");
        attributes.push(attribute(
            "1.2.840.113549.1.9.5",
            Any::encode_from(&time).expect("signing time"),
        ));
    }
    let attributes = SetOfVec::try_from(attributes).expect("attributes");
    let mut signature = sign(
        key,
        spec.style,
        spec.hash,
        &attributes.to_der().expect("DER"),
    );
    if spec.corrupt_signature {
        let last = signature.len() - 1;
        signature[last / 2] ^= 0x01;
    }
    let certificate = x509_to_cert(signer);
    let digest_algorithm = AlgorithmIdentifierOwned {
        oid: spec.hash.oid(),
        parameters: None,
    };
    let info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: digest_algorithm.clone(),
        signed_attrs: Some(attributes),
        signature_algorithm: spec
            .signature_algorithm
            .clone()
            .unwrap_or_else(|| signature_algorithm(spec.style, spec.hash)),
        signature: OctetString::new(signature).expect("signature"),
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V3,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm]).expect("digests"),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: content_type,
            econtent: Some(
                Any::encode_from(&OctetString::new(content.to_vec()).expect("content"))
                    .expect("content"),
            ),
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(vec![CertificateChoices::Certificate(certificate)])
                .expect("certificates"),
        )),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![info]).expect("signer infos")),
    };
    ContentInfo {
        content_type: ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2"),
        content: Any::encode_from(&signed).expect("signed data"),
    }
    .to_der()
    .expect("content info")
}

/// DG1 holding `zone` (lines joined, line breaks dropped).
pub fn dg1(zone: &str) -> Vec<u8> {
    let characters: Vec<u8> = zone.bytes().filter(|byte| *byte != b'\n').collect();
    let length = u8::try_from(characters.len()).expect("short zone");
    let mut file = vec![0x61, length + 3, 0x5F, 0x1F, length];
    file.extend(characters);
    file
}

/// A data-group file of `tag` holding `filler` bytes (stands in for DG2, DG14…).
pub fn data_group(tag: u8, length: usize, filler: u8) -> Vec<u8> {
    let value = vec![filler; length];
    Any::new(
        Tag::Application {
            constructed: true,
            number: TagNumber::new(tag & 0x1F),
        },
        value,
    )
    .expect("data group")
    .to_der()
    .expect("data group")
}

/// The ICAO specimen passport zone (Doc 9303-4 Appendix B).
pub const SPECIMEN_TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";

/// Doc 9303-10's `DataGroupHash`, written here independently of the code under test.
#[derive(Clone, Debug, der::Sequence)]
struct DataGroupHash {
    number: u8,
    hash: OctetString,
}

/// Doc 9303-10's `LDSSecurityObject` (version 0, no version info).
#[derive(Clone, Debug, der::Sequence)]
struct LdsSecurityObject {
    version: u8,
    hash_algorithm: AlgorithmIdentifierOwned,
    hashes: Vec<DataGroupHash>,
}

/// An LDSSecurityObject (version 0) over `groups` (number, file bytes), DER.
pub fn lds_security_object(groups: &[(u8, &[u8])], hash: Hash) -> Vec<u8> {
    let hashes: Vec<DataGroupHash> = groups
        .iter()
        .map(|(number, bytes)| DataGroupHash {
            number: *number,
            hash: OctetString::new(hash.digest(bytes)).expect("hash"),
        })
        .collect();
    let object = LdsSecurityObject {
        version: 0,
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: hash.oid(),
            parameters: None,
        },
        hashes,
    };
    object.to_der().expect("LDS security object")
}

/// EF.SOD over `groups` (number, file bytes), signed by `dsc`.
pub fn sod(
    groups: &[(u8, &[u8])],
    dsc: &X509,
    dsc_key: &PKey<Private>,
    spec: &SignedSpec,
) -> Vec<u8> {
    let content = lds_security_object(groups, spec.hash);
    let info = signed_data("2.23.136.1.1.1", &content, dsc, dsc_key, spec);
    wrap_sod(info)
}

/// A CMS ContentInfo wrapped in EF.SOD's tag 77.
pub fn wrap_sod(content_info: Vec<u8>) -> Vec<u8> {
    Any::new(
        Tag::Application {
            constructed: true,
            number: TagNumber::N23,
        },
        content_info,
    )
    .expect("EF.SOD")
    .to_der()
    .expect("EF.SOD")
}

/// A CRL of `issuer` revoking `serials`, issued at `this_update`.
pub fn crl(
    issuer: &X509,
    issuer_key: &PKey<Private>,
    serials: &[u32],
    this_update: i64,
) -> Vec<u8> {
    let time = |seconds: i64| {
        Time::UtcTime(
            UtcTime::from_unix_duration(std::time::Duration::from_secs(
                u64::try_from(seconds).expect("time"),
            ))
            .expect("UTC time"),
        )
    };
    let style = if issuer_key.rsa().is_ok() {
        Style::Pkcs1
    } else {
        Style::Ecdsa
    };
    let algorithm = signature_algorithm(style, Hash::Sha256);
    let revoked = serials
        .iter()
        .map(|serial| RevokedCert {
            serial_number: SerialNumber::from(*serial),
            revocation_date: time(this_update),
            crl_entry_extensions: None,
        })
        .collect();
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: algorithm.clone(),
        issuer: Name::from_der(&issuer.subject_name().to_der().expect("name")).expect("name"),
        this_update: time(this_update),
        next_update: Some(time(this_update + YEAR)),
        revoked_certificates: Some(revoked),
        crl_extensions: None,
    };
    let signature = sign(issuer_key, style, Hash::Sha256, &tbs.to_der().expect("TBS"));
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature).expect("signature"),
    }
    .to_der()
    .expect("CRL")
}

/// A CscaMasterList (version 0) of `certificates` (DER, duplicates kept as given), DER.
pub fn master_list_content(certificates: &[Vec<u8>]) -> Vec<u8> {
    let set = Any::new(Tag::Set, certificates.concat()).expect("certList");
    let mut body = 0u8.to_der().expect("version");
    body.extend(set.to_der().expect("certList"));
    Any::new(Tag::Sequence, body)
        .expect("CscaMasterList")
        .to_der()
        .expect("CscaMasterList")
}

/// A CSCA master list of `certificates`, signed by `signer`.
pub fn master_list(
    certificates: &[Vec<u8>],
    signer: &X509,
    key: &PKey<Private>,
    spec: &SignedSpec,
) -> Vec<u8> {
    let content = master_list_content(certificates);
    signed_data("2.23.136.1.1.2", &content, signer, key, spec)
}
