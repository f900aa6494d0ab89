//! Fuzz the image decoder chain with arbitrary file bytes: it must never panic or run unbounded.
#![no_main]

use checkpointd::adapters::qr_image::{DecodeLimits, decode_image_bytes_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small pictures keep each run fast; the limits are what production relies on too.
    let limits = DecodeLimits {
        pixels_max: 512 * 512,
        ..DecodeLimits::default()
    };
    let _ = decode_image_bytes_with(data, &limits);
});
