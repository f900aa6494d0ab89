//! A full chip read (EF.CardAccess, PACE or BAC, EF.COM, EF.SOD, DG1, a 20 KB DG2) against the
//! in-process simulator: round trips and bytes with 223-byte and extended-length reads, and the
//! software time per read with no link (target ≤ 50 ms). The time includes the simulator's own
//! chip-side cryptography, so the reader's share is below it.

use std::collections::BTreeMap;

use checkpointd::adapters::chip_sim::{ChipProfile, SimulatedChip, sample_files};
use checkpointd::core::chip::lds::LdsFile;
use checkpointd::core::chip::pace::Password;
use checkpointd::core::chip::reader::{ReadSettings, read_chip};
use criterion::{Criterion, criterion_group, criterion_main};

const MRZ_INFORMATION: &str = "L898902C<369080619406236";
const DG1: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10";

fn profile(extended_length: bool, pace: bool) -> ChipProfile {
    let files: BTreeMap<LdsFile, Vec<u8>> = sample_files(
        DG1,
        20_000,
        [vec![0x77, 0x82, 0x05, 0xDC], vec![0x30; 1500]].concat(),
    );
    let mut profile = ChipProfile::new(MRZ_INFORMATION, files);
    profile.extended_length = extended_length;
    // The chip advertises extended length in EF.ATR/INFO when it takes it.
    profile.atr_info = extended_length.then_some(0xFFFF);
    if !pace {
        profile.pace = None;
    }
    profile
}

fn one_read(profile: &ChipProfile) -> (usize, usize) {
    let mut chip = SimulatedChip::new(profile.clone());
    let read = read_chip(
        &mut chip,
        &Password::Mrz(MRZ_INFORMATION.into()),
        &ReadSettings::default(),
        &mut rand::thread_rng(),
    )
    .expect("read");
    (read.apdus, read.bytes_read)
}

fn chip_read(c: &mut Criterion) {
    let (short_apdus, short_bytes) = one_read(&profile(false, true));
    let (long_apdus, long_bytes) = one_read(&profile(true, true));
    println!(
        "chip read DG1 + 20 KB DG2 + SOD, PACE: 223-byte reads {short_apdus} APDUs / {short_bytes} bytes; \
         extended reads {long_apdus} APDUs / {long_bytes} bytes; round-trip ratio {:.1}x",
        short_apdus as f64 / long_apdus as f64
    );
    for (name, extended, pace) in [
        ("chip_read_pace_223", false, true),
        ("chip_read_pace_extended", true, true),
        ("chip_read_bac_223", false, false),
    ] {
        let profile = profile(extended, pace);
        c.bench_function(name, |b| b.iter(|| one_read(&profile)));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = chip_read
}
criterion_main!(benches);
