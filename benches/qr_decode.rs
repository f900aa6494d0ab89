//! QR image decoding: criterion figures on generated photographs, plus two modes for
//! `benches/qr_compare.py`: `QR_BENCH_GENERATE=DIR` writes the generated set (PNG + `.bin` payload),
//! `QR_BENCH_FILES=LIST` times each listed file two ways (best of 3 each): from the file's bytes in
//! memory to decoded codes (`decode_image_bytes_with`: image decoding, grey conversion, decoder chain),
//! and decode only (`decode_image_with` on the already-decoded grey pixels).

#[path = "../tests/qr_synth.rs"]
mod qr_synth;

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use checkpointd::adapters::qr_image::{
    DecodeLimits, decode_image, decode_image_bytes_with, decode_image_with, load_image,
};
use criterion::{Criterion, criterion_group};
use image::DynamicImage;
use qr_synth::{Scene, conditions, payloads, render, symbol};
use qrcode::EcLevel;

/// Seeds per condition and payload in the generated set: 18 conditions × 4 payloads × 3 = 216 images.
const SEEDS: u64 = 3;
const TIMING_RUNS: usize = 3;

fn generate(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    for condition in conditions() {
        for (index, payload) in payloads().iter().enumerate() {
            for seed in 0..SEEDS {
                let scene = Scene {
                    seed: seed + 1,
                    // A few degrees of spread so seeds differ even without noise.
                    rotate_deg: condition.scene.rotate_deg + seed as f32 * 2.5,
                    ..condition.scene
                };
                let image = render(&symbol(payload, EcLevel::M), &scene);
                let stem = format!("{}-p{index}-s{seed}", condition.name);
                image
                    .save(dir.join(format!("{stem}.png")))
                    .map_err(std::io::Error::other)?;
                std::fs::write(dir.join(format!("{stem}.bin")), payload)?;
                written += 1;
            }
        }
    }
    Ok(written)
}

fn time_files(list: &Path) -> std::io::Result<()> {
    let limits = DecodeLimits::default();
    let mut out = std::io::stdout().lock();
    for path in std::fs::read_to_string(list)?
        .lines()
        .filter(|l| !l.is_empty())
    {
        // The grey pixels our own pipeline decodes, for the decode-only view.
        let loaded = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                load_image(&bytes, &limits)
                    .map(|image| (DynamicImage::ImageLuma8(image.to_luma8()), bytes))
                    .map_err(|e| e.to_string())
            });
        let (grey, bytes) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                writeln!(out, "{path}\t-1\t-1\t-\t{error}")?;
                continue;
            }
        };
        let (full, outcome) = best_of(|| decode_image_bytes_with(black_box(&bytes), &limits));
        let (decode_only, _) = best_of(|| decode_image_with(black_box(&grey), &limits));
        let (codes, error) = match outcome {
            Ok(codes) => (
                codes.iter().map(hex::encode).collect::<Vec<_>>().join(","),
                String::new(),
            ),
            Err(error) => ("-".to_owned(), error.to_string()),
        };
        writeln!(
            out,
            "{path}\t{:.4}\t{:.4}\t{codes}\t{error}",
            full.as_secs_f64() * 1e3,
            decode_only.as_secs_f64() * 1e3
        )?;
    }
    Ok(())
}

/// The shortest of [`TIMING_RUNS`] runs, with the last run's result.
fn best_of<T>(mut run: impl FnMut() -> T) -> (Duration, T) {
    let started = Instant::now();
    let mut result = run();
    let mut best = started.elapsed();
    for _ in 1..TIMING_RUNS {
        let started = Instant::now();
        result = run();
        best = best.min(started.elapsed());
    }
    (best, result)
}

fn decode_generated(c: &mut Criterion) {
    let payload = b"BP1:NCFOXN%TS3DH0YOJ58S S-F4:9VHK+O.T9 AN$9W5OJ4H1 7MNQ*KR86-CVT$E-PA:C2";
    let mut group = c.benchmark_group("qr_decode_image");
    for name in [
        "clean-4px",
        "rotate-30",
        "module-1.5px",
        "low-contrast",
        "inverted",
        "clutter",
    ] {
        let Some(condition) = conditions().into_iter().find(|c| c.name == name) else {
            continue;
        };
        let image =
            DynamicImage::ImageLuma8(render(&symbol(payload, EcLevel::M), &condition.scene));
        group.bench_function(name, |b| b.iter(|| decode_image(black_box(&image))));
    }
    group.finish();
}

criterion_group!(benches, decode_generated);

fn main() -> std::process::ExitCode {
    if let Some(dir) = std::env::var_os("QR_BENCH_GENERATE") {
        return match generate(Path::new(&dir)) {
            Ok(count) => {
                eprintln!("wrote {count} images to {}", Path::new(&dir).display());
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("cannot generate: {error}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(list) = std::env::var_os("QR_BENCH_FILES") {
        return match time_files(Path::new(&list)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cannot time files: {error}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    std::process::ExitCode::SUCCESS
}
