//! In-process parse + validate time of one MRZ (target: at most 2 µs for TD3 and TD1).

use checkpointd::core::mrz::{self, Mode, ParseOptions};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use jiff::civil::date;

const TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<";
const TD3_OCR: &str = "p<utoeriksson<<anna<maria\r\nC01XO0T478D<<64O8125F2702283<<<<<<<<<<<<<<04";

fn parse_validate(c: &mut Criterion) {
    let strict = ParseOptions {
        mode: Mode::Strict,
        reference_date: date(2026, 11, 23),
        french_national_id: false,
    };
    let tolerant = ParseOptions {
        mode: Mode::Tolerant,
        ..strict
    };
    c.bench_function("mrz_td3_strict", |b| {
        b.iter(|| mrz::parse(black_box(TD3), black_box(&strict)).is_valid())
    });
    c.bench_function("mrz_td1_strict", |b| {
        b.iter(|| mrz::parse(black_box(TD1), black_box(&strict)).is_valid())
    });
    c.bench_function("mrz_td3_tolerant_with_repair", |b| {
        b.iter(|| mrz::parse(black_box(TD3_OCR), black_box(&tolerant)).is_valid())
    });
}

criterion_group!(benches, parse_validate);
criterion_main!(benches);
