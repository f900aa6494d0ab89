//! BP1 verification: published vectors, every rejection reason, holder binding, trust list.

use std::collections::HashSet;
use std::io::Write;

use checkpointd::core::permit::trust::IssuerKeyJson;
use checkpointd::core::permit::{
    BirthDate, HolderFacts, HolderMismatch, IssuerKey, NoRevocations, PermitBody, PermitClaims,
    PermitHolder, PermitRejection, PermitType, PermitVerdict, RevocationList, TrustList,
    TrustListError, decode_unverified, key_id, sign_permit, verify,
};
use checkpointd::core::privacy::{DocumentNumber, PersonName};
use coset::cwt::{ClaimsSetBuilder, Timestamp as CwtTimestamp};
use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana,
};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use jiff::{SignedDuration, Timestamp};

const SKEW: SignedDuration = SignedDuration::from_secs(300);

fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamp")
}

fn date(text: &str) -> jiff::civil::Date {
    text.parse().expect("test date")
}

fn issuer_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn entry(key: &SigningKey) -> IssuerKey {
    let public = key.verifying_key();
    IssuerKey {
        kid: key_id(&public),
        public_key: public.to_bytes(),
        sign_from: at("2025-01-01T00:00:00Z"),
        sign_until: at("2026-01-01T00:00:00Z"),
        verify_until: at("2030-01-01T00:00:00Z"),
        permitted: Vec::new(),
    }
}

fn trust(keys: Vec<IssuerKey>) -> TrustList {
    TrustList::new(keys).expect("test trust list loads")
}

fn body() -> PermitBody {
    PermitBody {
        permit_type: PermitType::WorkPermit,
        holder: PermitHolder {
            issuing_state: "UTO".into(),
            document_number: DocumentNumber::new("L898902C3"),
            birth_date: date("1974-08-12"),
            nationality: "UTO".into(),
            name: PersonName::new("ERIKSSON ANNA MARIA"),
        },
        valid_from: date("2025-07-01"),
        valid_until: date("2027-06-30"),
        employer: Some("Caspian Build LLC".into()),
        entries: None,
        region: None,
    }
}

fn claims() -> PermitClaims {
    PermitClaims {
        issuer: "UTO-MIGRATION".into(),
        issued_at: at("2025-06-01T00:00:00Z"),
        not_before: at("2025-07-01T00:00:00Z"),
        expires_at: at("2027-06-30T23:59:59Z"),
        permit_id: [7; 16],
    }
}

const NOW: &str = "2026-03-01T12:00:00Z";

fn verify_at(text: &str, trust: &TrustList, now: &str) -> PermitVerdict {
    verify(text, trust, &NoRevocations, at(now), SKEW)
}

fn assert_rejected(verdict: &PermitVerdict, reason: PermitRejection) {
    match verdict {
        PermitVerdict::Invalid {
            reason: got,
            message,
        } => {
            assert_eq!(*got, reason, "{message}");
            assert!(message.starts_with(reason.sentence()), "{message}");
        }
        PermitVerdict::Valid(permit) => panic!("expected {reason:?}, got valid {permit:?}"),
    }
}

fn bp1(cose: &[u8]) -> String {
    format!("BP1:{}", base45::encode(cose))
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("vec write");
    encoder.finish().expect("vec write")
}

/// The claims payload `sign_permit` would produce, built by hand so tests can break it.
fn payload(claims: &PermitClaims, body: &PermitBody, with_cti: bool) -> Vec<u8> {
    let mut builder = ClaimsSetBuilder::new()
        .issuer(claims.issuer.clone())
        .expiration_time(CwtTimestamp::WholeSeconds(claims.expires_at.as_second()))
        .not_before(CwtTimestamp::WholeSeconds(claims.not_before.as_second()))
        .issued_at(CwtTimestamp::WholeSeconds(claims.issued_at.as_second()));
    if with_cti {
        builder = builder.cwt_id(claims.permit_id.to_vec());
    }
    builder
        .private_claim(
            -65537,
            ciborium::Value::serialized(body).expect("body serialises"),
        )
        .build()
        .to_vec()
        .expect("claims encode")
}

/// A COSE_Sign1 signed by `key` with the given headers.
fn sign1(
    key: &SigningKey,
    protected: coset::Header,
    unprotected: coset::Header,
    payload: Vec<u8>,
) -> CoseSign1 {
    CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(payload)
        .create_signature(b"", |data| key.sign(data).to_bytes().to_vec())
        .build()
}

fn protected_for(key: &SigningKey) -> coset::Header {
    HeaderBuilder::new()
        .algorithm(iana::Algorithm::Ed25519)
        .key_id(key_id(&key.verifying_key()).to_vec())
        .build()
}

fn valid_text() -> (SigningKey, TrustList, String) {
    let key = issuer_key(1);
    let list = trust(vec![entry(&key)]);
    let text = sign_permit(&body(), &claims(), &key, key_id(&key.verifying_key()));
    (key, list, text)
}

#[test]
fn signed_permit_verifies_and_decodes() {
    let (_, list, text) = valid_text();
    let PermitVerdict::Valid(permit) = verify_at(&text, &list, NOW) else {
        panic!("expected valid");
    };
    assert_eq!(permit.body, body());
    assert_eq!(permit.claims, claims());
    let decoded = decode_unverified(&text).expect("decodes");
    assert_eq!(decoded.body, body());
    assert_eq!(decoded.claims, claims());
    assert_eq!(decoded.kid, permit.kid);
}

#[test]
fn untagged_and_compressed_cose_are_accepted() {
    let key = issuer_key(1);
    let list = trust(vec![entry(&key)]);
    let message = sign1(
        &key,
        protected_for(&key),
        coset::Header::default(),
        payload(&claims(), &body(), true),
    );
    let untagged = message.clone().to_vec().expect("encode");
    let tagged = message.to_tagged_vec().expect("encode");
    for cose in [
        untagged.clone(),
        tagged.clone(),
        zlib(&untagged),
        zlib(&tagged),
    ] {
        assert_eq!(verify_at(&bp1(&cose), &list, NOW).code(), "valid");
    }
}

#[test]
fn every_permit_type_round_trips() {
    let key = issuer_key(1);
    let list = trust(vec![entry(&key)]);
    for permit_type in PermitType::ALL {
        let mut body = body();
        body.permit_type = permit_type;
        body.employer = (permit_type == PermitType::WorkPermit).then(|| "Caspian Build LLC".into());
        body.entries = match permit_type {
            PermitType::EvisaSingle => Some(1),
            PermitType::EvisaMultiple => Some(5),
            _ => None,
        };
        body.region = (permit_type == PermitType::Registration).then(|| "Absheron".into());
        body.validate().expect("valid body");
        let text = sign_permit(&body, &claims(), &key, key_id(&key.verifying_key()));
        let PermitVerdict::Valid(permit) = verify_at(&text, &list, NOW) else {
            panic!("{permit_type:?} did not verify");
        };
        assert_eq!(permit.body, body);
        let json = serde_json::to_value(permit_type).expect("serialises");
        assert_eq!(json, serde_json::Value::String(permit_type.code().into()));
    }
}

/// RFC 8032 §7.1 test vectors 1, 2, 3 and SHA(abc): deterministic signatures and strict verify.
#[test]
fn rfc8032_vectors() {
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];
    for (secret, public, message, signature) in vectors {
        let seed: [u8; 32] = hex::decode(secret)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(hex::encode(key.verifying_key().to_bytes()), public);
        let message = hex::decode(message).expect("hex");
        let signed = key.sign(&message);
        assert_eq!(hex::encode(signed.to_bytes()), signature);
        key.verifying_key()
            .verify_strict(&message, &signed)
            .expect("vector verifies");
        // The same keys load into a trust list (none is weak).
        trust(vec![entry(&key)]);
    }
}

/// cose-wg/Examples `eddsa-examples/eddsa-sig-01.json`: Ed25519 COSE_Sign1, RFC 8032 key 1.
const COSE_WG_EDDSA_SIG_01: &str = "D28445A201270300A10442313154546869732069732074686520636F6E74656E742E58407142FD2FF96D56DB85BEE905A76BA1D0B7321A95C8C4D3607C5781932B7AFB8711497DFA751BF40B58B3BCC32300B1487F3DB34085EEF013BF08F4A44D6FEF0D";
const COSE_WG_TO_BE_SIGNED: &str =
    "846A5369676E61747572653145A2012703004054546869732069732074686520636F6E74656E742E";

#[test]
fn cose_wg_eddsa_sig_01_verifies_and_is_reproduced() {
    let cose = hex::decode(COSE_WG_EDDSA_SIG_01).expect("hex");
    let message = CoseSign1::from_tagged_slice(&cose).expect("parses");
    let seed: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .expect("hex")
            .try_into()
            .expect("32 bytes");
    let key = SigningKey::from_bytes(&seed);
    let to_be_signed = message.tbs_data(b"");
    assert_eq!(hex::encode_upper(&to_be_signed), COSE_WG_TO_BE_SIGNED);
    let signature =
        ed25519_dalek::Signature::from_slice(&message.signature).expect("64-byte signature");
    key.verifying_key()
        .verify_strict(&to_be_signed, &signature)
        .expect("the published signature verifies");
    assert_eq!(
        key.sign(&to_be_signed),
        signature,
        "Ed25519 is deterministic"
    );
    // As a BP1 text it is refused: its kid ("11") sits in the unprotected header.
    let list = trust(vec![entry(&key)]);
    assert_rejected(
        &verify_at(&bp1(&cose), &list, NOW),
        PermitRejection::KidNotProtected,
    );
}

#[test]
fn envelope_rejections() {
    let (key, list, text) = valid_text();
    let cases: Vec<(String, PermitRejection)> = vec![
        (text.replacen("BP1:", "HC1:", 1), PermitRejection::Prefix),
        (
            format!("BP1:{}", "0".repeat(5000)),
            PermitRejection::TextTooLong,
        ),
        ("BP1:GGW".into(), PermitRejection::Base45),
        ("BP1:abc".into(), PermitRejection::Base45),
        ("BP1:A".into(), PermitRejection::Base45),
        (
            bp1(&[0x78, 0x9c, 0xde, 0xad, 0xbe, 0xef]),
            PermitRejection::Inflate,
        ),
        (
            bp1(&zlib(&vec![0u8; 1 << 20])),
            PermitRejection::InflateTooLarge,
        ),
        (bp1(&[0x01, 0x02]), PermitRejection::CoseMalformed),
        (bp1(&[0xd2, 0x84, 0x40]), PermitRejection::CoseMalformed),
    ];
    for (text, reason) in cases {
        assert_rejected(&verify_at(&text, &list, NOW), reason);
    }
    // Truncated Base45: cutting the text so a lone character remains.
    let base45_len = text.len() - 4;
    let cut = match base45_len % 3 {
        0 => 2,
        1 => 0,
        _ => 1,
    } + 3;
    assert_rejected(
        &verify_at(&text[..text.len() - cut], &list, NOW),
        PermitRejection::Base45,
    );
    // Truncated Base45 that still decodes: the COSE structure is cut short.
    let raw = base45::decode(&text[4..]).expect("valid base45");
    let cose = checkpointd_inflate(&raw);
    assert_rejected(
        &verify_at(&bp1(&cose[..cose.len() - 10]), &list, NOW),
        PermitRejection::CoseMalformed,
    );
    // Oversized but otherwise valid COSE: a payload inflating past the cap.
    let mut big_body = body();
    big_body.employer = Some("x".repeat(200));
    let big_payload = [payload(&claims(), &big_body, true), vec![0; 9000]].concat();
    let big = sign1(
        &key,
        protected_for(&key),
        coset::Header::default(),
        big_payload,
    )
    .to_tagged_vec()
    .expect("encode");
    assert_rejected(
        &verify_at(&bp1(&zlib(&big)), &list, NOW),
        PermitRejection::InflateTooLarge,
    );
}

fn checkpointd_inflate(raw: &[u8]) -> Vec<u8> {
    if raw.first() == Some(&0x78) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(raw), &mut out)
            .expect("inflates");
        out
    } else {
        raw.to_vec()
    }
}

#[test]
fn header_rejections() {
    let key = issuer_key(1);
    let list = trust(vec![entry(&key)]);
    let kid = key_id(&key.verifying_key()).to_vec();
    let good_payload = payload(&claims(), &body(), true);
    let encode = |message: CoseSign1| bp1(&message.to_tagged_vec().expect("encode"));

    let es256 = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .key_id(kid.clone())
        .build();
    let unprotected_kid = HeaderBuilder::new().key_id(kid.clone()).build();
    let alg_only = HeaderBuilder::new()
        .algorithm(iana::Algorithm::Ed25519)
        .build();
    let short_kid = HeaderBuilder::new()
        .algorithm(iana::Algorithm::Ed25519)
        .key_id(kid[..4].to_vec())
        .build();
    let cases = [
        (
            sign1(&key, es256, coset::Header::default(), good_payload.clone()),
            PermitRejection::Algorithm,
        ),
        (
            sign1(
                &key,
                alg_only.clone(),
                unprotected_kid,
                good_payload.clone(),
            ),
            PermitRejection::KidNotProtected,
        ),
        (
            sign1(
                &key,
                alg_only,
                coset::Header::default(),
                good_payload.clone(),
            ),
            PermitRejection::KidMissing,
        ),
        (
            sign1(
                &key,
                short_kid,
                coset::Header::default(),
                good_payload.clone(),
            ),
            PermitRejection::KidMissing,
        ),
    ];
    for (message, reason) in cases {
        assert_rejected(&verify_at(&encode(message), &list, NOW), reason);
    }
    // The deprecated polymorphic EdDSA (-8) identifier is accepted for Ed25519 keys.
    let eddsa = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(kid)
        .build();
    let message = sign1(&key, eddsa, coset::Header::default(), good_payload);
    assert_eq!(verify_at(&encode(message), &list, NOW).code(), "valid");
}

#[test]
fn signature_rejections() {
    let key = issuer_key(1);
    let list = trust(vec![entry(&key)]);
    let encode = |message: CoseSign1| bp1(&message.to_tagged_vec().expect("encode"));
    let good = sign1(
        &key,
        protected_for(&key),
        coset::Header::default(),
        payload(&claims(), &body(), true),
    );

    // Unknown kid: signed by a key the terminal does not trust.
    let stranger = issuer_key(2);
    let foreign = sign1(
        &stranger,
        protected_for(&stranger),
        coset::Header::default(),
        payload(&claims(), &body(), true),
    );
    assert_rejected(
        &verify_at(&encode(foreign), &list, NOW),
        PermitRejection::KidUnknown,
    );

    // Tampered body: another holder, original signature.
    let mut tampered_body = good.clone();
    let mut other = body();
    other.holder.document_number = DocumentNumber::new("X00000000");
    tampered_body.payload = Some(payload(&claims(), &other, true));
    assert_rejected(
        &verify_at(&encode(tampered_body), &list, NOW),
        PermitRejection::Signature,
    );

    // Tampered protected header: re-encoded with an extra field, original signature.
    let mut tampered_header = good.clone();
    tampered_header.protected = coset::ProtectedHeader {
        original_data: None,
        header: HeaderBuilder::new()
            .algorithm(iana::Algorithm::Ed25519)
            .key_id(key_id(&key.verifying_key()).to_vec())
            .content_type("application/cwt".into())
            .build(),
    };
    assert_rejected(
        &verify_at(&encode(tampered_header), &list, NOW),
        PermitRejection::Signature,
    );

    // Same header, different but equivalent encoding (kid before alg): the signature covers the
    // bytes as received, so a re-encoded header fails.
    let mut reordered =
        CoseSign1::from_tagged_slice(&good.clone().to_tagged_vec().expect("encode"))
            .expect("parses");
    let protected_bytes = reordered
        .protected
        .original_data
        .clone()
        .expect("parsed data");
    let mut header = reordered.protected.header.clone();
    header.rest.clear();
    let swapped = ciborium::Value::Map(vec![
        (
            ciborium::Value::from(4),
            ciborium::Value::Bytes(key_id(&key.verifying_key()).to_vec()),
        ),
        (ciborium::Value::from(1), ciborium::Value::from(-19)),
    ]);
    let mut swapped_bytes = Vec::new();
    ciborium::into_writer(&swapped, &mut swapped_bytes).expect("encode");
    assert_ne!(swapped_bytes, protected_bytes);
    reordered.protected = coset::ProtectedHeader {
        original_data: Some(swapped_bytes),
        header,
    };
    let reordered_cose = reordered.to_tagged_vec().expect("encode");
    assert_rejected(
        &verify_at(&bp1(&reordered_cose), &list, NOW),
        PermitRejection::Signature,
    );

    // Non-canonical S (S + L): the same signature under a malleated encoding.
    let mut malleated = good.clone();
    let mut s = [0u8; 32];
    s.copy_from_slice(&malleated.signature[32..]);
    let mut carry = 0u16;
    for (byte, l_byte) in s.iter_mut().zip(ED25519_ORDER_LE) {
        let sum = u16::from(*byte) + u16::from(l_byte) + carry;
        *byte = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    malleated.signature[32..].copy_from_slice(&s);
    assert_rejected(
        &verify_at(&encode(malleated), &list, NOW),
        PermitRejection::Signature,
    );

    // Wrong signature length.
    let mut short = good;
    short.signature.truncate(63);
    assert_rejected(
        &verify_at(&encode(short), &list, NOW),
        PermitRejection::Signature,
    );
}

/// The group order L of edwards25519, little-endian.
const ED25519_ORDER_LE: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Small-order (weak) public keys: the identity and a point of order 2, 4 and 8
/// (the edge cases of Wycheproof and ed25519-speccheck, written out by hand).
const WEAK_KEYS: [&str; 4] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
];

#[test]
fn weak_keys_are_refused_and_their_forgeries_fail_strict_verification() {
    for weak in WEAK_KEYS {
        let public: [u8; 32] = hex::decode(weak).expect("hex").try_into().expect("32");
        let verifying = VerifyingKey::from_bytes(&public).expect("a valid point");
        assert!(verifying.is_weak(), "{weak}");
        let key = IssuerKey {
            kid: key_id(&verifying),
            public_key: public,
            ..entry(&issuer_key(1))
        };
        assert!(matches!(
            TrustList::new(vec![key]),
            Err(TrustListError::WeakKey { index: 0 })
        ));
    }
    // The classic forgery: identity key, R = identity, S = 0 "signs" every message.
    let identity = VerifyingKey::from_bytes(
        &hex::decode(WEAK_KEYS[0])
            .expect("hex")
            .try_into()
            .expect("32"),
    )
    .expect("point");
    let mut forged = [0u8; 64];
    forged[0] = 1;
    let forged = ed25519_dalek::Signature::from_bytes(&forged);
    assert!(identity.verify_strict(b"any permit", &forged).is_err());
}

#[test]
fn claim_and_body_rejections() {
    let key = issuer_key(1);
    let list = trust(vec![entry(&key)]);
    let encode = |message: CoseSign1| bp1(&message.to_tagged_vec().expect("encode"));
    let no_cti = sign1(
        &key,
        protected_for(&key),
        coset::Header::default(),
        payload(&claims(), &body(), false),
    );
    assert_rejected(
        &verify_at(&encode(no_cti), &list, NOW),
        PermitRejection::ClaimsMalformed,
    );
    let not_claims = sign1(
        &key,
        protected_for(&key),
        coset::Header::default(),
        b"not cbor".to_vec(),
    );
    assert_rejected(
        &verify_at(&encode(not_claims), &list, NOW),
        PermitRejection::ClaimsMalformed,
    );
    let mut no_employer = body();
    no_employer.employer = None;
    assert!(no_employer.validate().is_err());
    let text = sign_permit(&no_employer, &claims(), &key, key_id(&key.verifying_key()));
    assert_rejected(&verify_at(&text, &list, NOW), PermitRejection::BodyInvalid);
}

#[test]
fn time_and_key_period_rejections() {
    let key = issuer_key(1);
    let kid = key_id(&key.verifying_key());
    let list = trust(vec![entry(&key)]);
    let text = sign_permit(&body(), &claims(), &key, kid);

    assert_rejected(
        &verify_at(&text, &list, "2025-06-30T23:50:00Z"),
        PermitRejection::NotYetValid,
    );
    // Within the skew allowance either side.
    assert_eq!(
        verify_at(&text, &list, "2025-06-30T23:56:00Z").code(),
        "valid"
    );
    assert_eq!(
        verify_at(&text, &list, "2027-07-01T00:04:00Z").code(),
        "valid"
    );
    assert_rejected(
        &verify_at(&text, &list, "2027-07-01T00:06:00Z"),
        PermitRejection::Expired,
    );

    let mut future = claims();
    future.issued_at = at("2025-12-01T00:00:00Z");
    future.not_before = at("2025-07-01T00:00:00Z");
    let text = sign_permit(&body(), &future, &key, kid);
    assert_rejected(
        &verify_at(&text, &list, "2025-08-01T00:00:00Z"),
        PermitRejection::IssuedInFuture,
    );

    let mut late = claims();
    late.issued_at = at("2026-02-01T00:00:00Z");
    let text = sign_permit(&body(), &late, &key, kid);
    assert_rejected(
        &verify_at(&text, &list, NOW),
        PermitRejection::SignedOutsideKeyPeriod,
    );

    let mut long = claims();
    long.expires_at = at("2031-01-01T00:00:00Z");
    let text = sign_permit(&body(), &long, &key, kid);
    assert_rejected(
        &verify_at(&text, &list, NOW),
        PermitRejection::ExpiresAfterKey,
    );

    let scoped = trust(vec![IssuerKey {
        permitted: vec![PermitType::EvisaSingle, PermitType::Registration],
        ..entry(&key)
    }]);
    let text = sign_permit(&body(), &claims(), &key, kid);
    assert_rejected(
        &verify_at(&text, &scoped, NOW),
        PermitRejection::TypeNotPermitted,
    );
}

#[test]
fn keys_sharing_a_kid_are_all_tried() {
    let key = issuer_key(1);
    let old_period = IssuerKey {
        sign_from: at("2020-01-01T00:00:00Z"),
        sign_until: at("2021-01-01T00:00:00Z"),
        verify_until: at("2022-01-01T00:00:00Z"),
        ..entry(&key)
    };
    let list = trust(vec![old_period.clone(), entry(&key)]);
    let text = sign_permit(&body(), &claims(), &key, key_id(&key.verifying_key()));
    let PermitVerdict::Valid(permit) = verify_at(&text, &list, NOW) else {
        panic!("expected valid");
    };
    assert_eq!(permit.issuer_key, entry(&key));
    let only_old = trust(vec![old_period]);
    assert_rejected(
        &verify_at(&text, &only_old, NOW),
        PermitRejection::SignedOutsideKeyPeriod,
    );
}

#[test]
fn revoked_permit_is_rejected() {
    let (_, list, text) = valid_text();
    let revoked = RevocationList(HashSet::from([claims().permit_id]));
    let verdict = verify(&text, &list, &revoked, at(NOW), SKEW);
    assert_rejected(&verdict, PermitRejection::Revoked);
    let other = RevocationList(HashSet::from([[9u8; 16]]));
    assert_eq!(verify(&text, &list, &other, at(NOW), SKEW).code(), "valid");
}

#[test]
fn rejection_codes_are_unique_and_stable() {
    let codes: HashSet<&str> = PermitRejection::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), PermitRejection::ALL.len());
    assert!(!codes.contains("valid"));
}

fn facts() -> HolderFacts {
    HolderFacts {
        issuing_state: "UTO".into(),
        document_number: DocumentNumber::new("L898902C3"),
        birth_date: BirthDate::Mrz("740812".into()),
        nationality: "UTO".into(),
    }
}

#[test]
fn holder_binding() {
    let (_, list, text) = valid_text();
    let PermitVerdict::Valid(permit) = verify_at(&text, &list, NOW) else {
        panic!("expected valid");
    };
    let matching = [
        facts(),
        HolderFacts {
            birth_date: BirthDate::Civil(date("1974-08-12")),
            ..facts()
        },
        HolderFacts {
            birth_date: BirthDate::Mrz("7408<<".into()),
            issuing_state: "UTO".into(),
            ..facts()
        },
        HolderFacts {
            document_number: DocumentNumber::new("L898902C3<"),
            ..facts()
        },
    ];
    for holder in matching {
        assert_eq!(permit.check_holder(&holder), Ok(()));
    }
    let mismatching = [
        (
            HolderFacts {
                issuing_state: "D<<".into(),
                ..facts()
            },
            HolderMismatch::IssuingState,
        ),
        (
            HolderFacts {
                document_number: DocumentNumber::new("L898902C4"),
                ..facts()
            },
            HolderMismatch::DocumentNumber,
        ),
        (
            HolderFacts {
                birth_date: BirthDate::Mrz("740813".into()),
                ..facts()
            },
            HolderMismatch::BirthDate,
        ),
        (
            HolderFacts {
                birth_date: BirthDate::Mrz("74081".into()),
                ..facts()
            },
            HolderMismatch::BirthDate,
        ),
        (
            HolderFacts {
                birth_date: BirthDate::Civil(date("1974-08-13")),
                ..facts()
            },
            HolderMismatch::BirthDate,
        ),
        (
            HolderFacts {
                nationality: "AZE".into(),
                ..facts()
            },
            HolderMismatch::Nationality,
        ),
    ];
    for (holder, mismatch) in mismatching {
        assert_eq!(permit.check_holder(&holder), Err(mismatch));
    }
}

/// The kid of the fixture key (seed [1; 32]), computed independently with pyca/cryptography and
/// the RFC 9679 CBOR written out by hand: `a3 01 01 20 06 21 58 20 || x`, SHA-256, first 8 bytes.
#[test]
fn kid_matches_an_independent_computation() {
    assert_eq!(
        hex::encode(issuer_key(1).verifying_key().to_bytes()),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
    assert_eq!(
        hex::encode(key_id(&issuer_key(1).verifying_key())),
        "dd2fb4e18b5e1ce3"
    );
}

#[test]
fn trust_list_json_form() {
    let key = issuer_key(1);
    let mut scoped = entry(&key);
    scoped.permitted = vec![PermitType::WorkPermit];
    let json = serde_json::to_string(&vec![
        IssuerKeyJson::from_issuer_key(&entry(&key)),
        IssuerKeyJson::from_issuer_key(&scoped),
    ])
    .expect("serialises");
    assert!(!json.contains("\"permitted\":[]"));
    let list = TrustList::from_json(&json).expect("loads");
    assert_eq!(list.keys().len(), 2);
    assert!(list.keys()[0].entry.permitted.is_empty());
    assert_eq!(list.keys()[1].entry.permitted, vec![PermitType::WorkPermit]);

    let kid = hex::encode(key_id(&key.verifying_key()));
    let public = hex::encode(key.verifying_key().to_bytes());
    let file = |kid: &str, public: &str, extra: &str| {
        format!(
            r#"[{{"kid":"{kid}","public_key":"{public}","sign_from":"2025-01-01T00:00:00Z","sign_until":"2026-01-01T00:00:00Z","verify_until":"2030-01-01T00:00:00Z"{extra}}}]"#
        )
    };
    assert!(TrustList::from_json(&file(&kid, &public, "")).is_ok());
    assert!(TrustList::from_json(&file(&kid, &public, r#","permitted":["evisa_single"]"#)).is_ok());
    let failures = [
        file(&kid, &public, r#","permitted":[]"#),
        file(&kid, &public, r#","permitted":["visa"]"#),
        file("00", &public, ""),
        file("0011223344556677", &public, ""),
        file(&kid, "zz", ""),
        file(&kid, &public, r#","extra":1"#),
        file(&kid, WEAK_KEYS[0], ""),
        "{}".to_owned(),
    ];
    for text in failures {
        assert!(TrustList::from_json(&text).is_err(), "{text}");
    }
    let backwards = file(&kid, &public, "").replace("2030-01-01", "2025-06-01");
    assert!(matches!(
        TrustList::from_json(&backwards),
        Err(TrustListError::Periods { index: 0 })
    ));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text_never_panics_or_verifies(text in "BP1:[0-9A-Z $%*+./:-]{0,300}") {
            let (_, list, _) = valid_text();
            prop_assert_ne!(verify_at(&text, &list, NOW).code(), "valid");
        }

        #[test]
        fn a_changed_character_never_changes_what_verifies(
            position in 4usize..400,
            replacement in proptest::sample::select(
                "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".chars().collect::<Vec<_>>()
            ),
        ) {
            let (_, list, text) = valid_text();
            let position = position % text.len();
            let mut chars: Vec<char> = text.chars().collect();
            prop_assume!(position >= 4 && chars[position] != replacement);
            chars[position] = replacement;
            let mutated: String = chars.into_iter().collect();
            if let PermitVerdict::Valid(permit) = verify_at(&mutated, &list, NOW) {
                prop_assert_eq!(&permit.body, &body());
                prop_assert_eq!(&permit.claims, &claims());
            }
        }
    }
}
