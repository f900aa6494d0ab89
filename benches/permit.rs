//! End-to-end verification of one BP1 text (Base45, COSE parse, Ed25519 verify_strict, claims).

use checkpointd::core::permit::{
    IssuerKey, NoRevocations, PermitBody, PermitClaims, PermitHolder, PermitType, TrustList,
    key_id, sign_permit, verify,
};
use checkpointd::core::privacy::{DocumentNumber, PersonName};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use jiff::{SignedDuration, Timestamp};

fn at(text: &str) -> Timestamp {
    text.parse().expect("bench timestamp")
}

fn fixture() -> (SigningKey, TrustList, String) {
    let key = SigningKey::from_bytes(&[1; 32]);
    let public = key.verifying_key();
    let trust = TrustList::new(vec![IssuerKey {
        kid: key_id(&public),
        public_key: public.to_bytes(),
        sign_from: at("2025-01-01T00:00:00Z"),
        sign_until: at("2026-01-01T00:00:00Z"),
        verify_until: at("2030-01-01T00:00:00Z"),
        permitted: Vec::new(),
    }])
    .expect("trust list");
    let body = PermitBody {
        permit_type: PermitType::WorkPermit,
        holder: PermitHolder {
            issuing_state: "UTO".into(),
            document_number: DocumentNumber::new("L898902C3"),
            birth_date: "1974-08-12".parse().expect("date"),
            nationality: "UTO".into(),
            name: PersonName::new("ERIKSSON ANNA MARIA"),
        },
        valid_from: "2025-07-01".parse().expect("date"),
        valid_until: "2027-06-30".parse().expect("date"),
        employer: Some("Caspian Build LLC".into()),
        entries: None,
        region: None,
    };
    let claims = PermitClaims {
        issuer: "UTO-MIGRATION".into(),
        issued_at: at("2025-06-01T00:00:00Z"),
        not_before: at("2025-07-01T00:00:00Z"),
        expires_at: at("2027-06-30T23:59:59Z"),
        permit_id: [7; 16],
    };
    let text = sign_permit(&body, &claims, &key, key_id(&public));
    (key, trust, text)
}

fn bench_permit(c: &mut Criterion) {
    let (key, trust, text) = fixture();
    let now = at("2026-03-01T12:00:00Z");
    let skew = SignedDuration::from_secs(300);
    assert_eq!(
        verify(&text, &trust, &NoRevocations, now, skew).code(),
        "valid"
    );
    c.bench_function("permit_verify_bp1_end_to_end", |b| {
        b.iter(|| {
            verify(
                std::hint::black_box(&text),
                &trust,
                &NoRevocations,
                now,
                skew,
            )
        })
    });
    let message = [0u8; 256];
    let signature = key.sign(&message);
    let public = key.verifying_key();
    c.bench_function("ed25519_verify_strict_256_bytes", |b| {
        b.iter(|| public.verify_strict(std::hint::black_box(&message), &signature))
    });
}

criterion_group!(benches, bench_permit);
criterion_main!(benches);
