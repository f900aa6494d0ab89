//! Passive authentication of one document (EF.SOD signature, chain to the CSCA, DG1 + a 20 KB
//! DG2 + DG14 hashed, DG1's MRZ parsed) and loading a 500-certificate CSCA master list. Prints
//! p50/p99 over many runs besides criterion's estimates (targets: PA p99 ≤ 5 ms, list ≤ 200 ms).
//! `CHIP_BENCH_MASTER_LIST=FILE` also times a real list, e.g. Germany's CSCA master list that the
//! `emrtd` crate ships in its `data/` folder (not redistributed here).

#[path = "../tests/chip_pki/mod.rs"]
mod chip_pki;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use checkpointd::core::lds::DataGroup;
use checkpointd::core::passive_auth::{
    ChipFiles, TrustStore, VerifyOptions, read_certificates, read_master_list, verify,
};
use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020, YEAR};
use criterion::{Criterion, criterion_group, criterion_main};

/// EF.SOD, the data groups read, and the trust that verifies them.
type Document = (Vec<u8>, Vec<(DataGroup, Vec<u8>)>, TrustStore);

/// One document signed with `dsc_kind` under a CSCA of `csca_kind`.
fn document(csca_kind: KeyKind, dsc_kind: KeyKind, hash: Hash) -> Document {
    let csca_key = chip_pki::key(csca_kind, 0);
    let csca = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
    let dsc_key = chip_pki::key(dsc_kind, 1);
    let dsc = chip_pki::certificate(&CertSpec::dsc("UT", 2), &dsc_key, Some((&csca, &csca_key)));
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 20_000, 0x42);
    let dg14 = chip_pki::data_group(0x6E, 300, 0x14);
    let spec = SignedSpec::new(
        hash,
        chip_pki::default_style(dsc_kind),
        Some(Y2020 + 5 * YEAR),
    );
    let sod = chip_pki::sod(&[(1, &dg1), (2, &dg2), (14, &dg14)], &dsc, &dsc_key, &spec);
    let mut trust = TrustStore::new();
    for certificate in read_certificates(&csca.to_der().expect("DER")).expect("CSCA") {
        trust.add_csca(certificate).expect("CSCA");
    }
    let groups = [(1, dg1), (2, dg2), (14, dg14)]
        .into_iter()
        .map(|(number, bytes)| (DataGroup::new(number).expect("group"), bytes))
        .collect();
    (sod, groups, trust)
}

fn check(sod: &[u8], groups: &[(DataGroup, Vec<u8>)], trust: &TrustStore) -> bool {
    let files = ChipFiles {
        sod: Some(sod),
        data_groups: groups
            .iter()
            .map(|(group, bytes)| (*group, bytes.as_slice()))
            .collect::<BTreeMap<_, _>>(),
    };
    let options = VerifyOptions {
        check_date: jiff::civil::date(2026, 1, 1),
        printed_mrz: Some(chip_pki::SPECIMEN_TD3),
    };
    verify(&files, trust, &options).is_valid()
}

/// p50 and p99 of `runs` timings of `work`.
fn percentiles(runs: usize, mut work: impl FnMut()) -> (Duration, Duration) {
    let mut timings: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect();
    timings.sort();
    (timings[runs / 2], timings[runs * 99 / 100])
}

/// A master list of 500 distinct CSCAs (P-256, 50 countries), signed by a list signer.
fn master_list_500() -> Vec<u8> {
    let mut certificates = Vec::with_capacity(500);
    for index in 0..500u32 {
        let country = format!(
            "{}{}",
            char::from(b'A' + u8::try_from(index % 25).expect("letter")),
            char::from(b'A' + u8::try_from(index / 25 % 2).expect("letter"))
        );
        let key = chip_pki::key(KeyKind::P256, u8::try_from(index % 200).expect("slot"));
        let certificate =
            chip_pki::certificate(&CertSpec::csca(&country, 1000 + index), &key, None);
        certificates.push(certificate.to_der().expect("DER"));
    }
    let signer_key = chip_pki::key(KeyKind::P256, 250);
    let signer = chip_pki::certificate(&CertSpec::dsc("UT", 99), &signer_key, None);
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
    chip_pki::master_list(&certificates, &signer, &signer_key, &spec)
}

fn load(list: &[u8]) -> TrustStore {
    let read = read_master_list(list);
    assert!(read.signature_valid, "{:?}", read.errors);
    let mut trust = TrustStore::new();
    for certificate in read.certificates {
        trust.add_csca(certificate).expect("CSCA");
    }
    trust
}

fn bench_chip_pa(c: &mut Criterion) {
    let cases = [
        (
            "brainpoolP256r1",
            KeyKind::Brainpool384,
            KeyKind::Brainpool256,
            Hash::Sha256,
        ),
        ("rsa2048", KeyKind::Rsa2048, KeyKind::Rsa2048, Hash::Sha256),
        ("p521", KeyKind::P521, KeyKind::P521, Hash::Sha512),
    ];
    for (name, csca, dsc, hash) in cases {
        let (sod, groups, trust) = document(csca, dsc, hash);
        assert!(check(&sod, &groups, &trust), "{name} verifies");
        let (p50, p99) = percentiles(2000, || {
            std::hint::black_box(check(&sod, &groups, &trust));
        });
        println!("chip_pa_document_{name}: p50 {p50:?}, p99 {p99:?} (2000 runs)");
        c.bench_function(&format!("chip_pa_document_{name}"), |b| {
            b.iter(|| check(std::hint::black_box(&sod), &groups, &trust))
        });
    }
    let list = master_list_500();
    assert_eq!(read_master_list(&list).distinct_certificates, 500);
    let (p50, p99) = percentiles(50, || {
        std::hint::black_box(load(&list));
    });
    println!(
        "chip_master_list_500_load: p50 {p50:?}, p99 {p99:?} (50 runs, {} bytes)",
        list.len()
    );
    if let Some(path) = std::env::var_os("CHIP_BENCH_MASTER_LIST") {
        let real = std::fs::read(&path).expect("CHIP_BENCH_MASTER_LIST names a readable file");
        let count = read_master_list(&real).distinct_certificates;
        let (p50, p99) = percentiles(20, || {
            std::hint::black_box(load(&real));
        });
        println!(
            "chip_master_list_file_load: p50 {p50:?}, p99 {p99:?} (20 runs, {count} certificates, {} bytes)",
            real.len()
        );
    }
    let mut group = c.benchmark_group("chip_master_list");
    group.sample_size(20);
    group.bench_function("load_500_certificates", |b| {
        b.iter(|| load(std::hint::black_box(&list)))
    });
    group.finish();
}

criterion_group!(benches, bench_chip_pa);
criterion_main!(benches);
