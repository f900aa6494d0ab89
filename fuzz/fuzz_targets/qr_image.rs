//! Fuzz the image decoder chain with arbitrary file bytes: it must never panic or run unbounded.
#![no_main]

use std::sync::Once;

use checkpointd::adapters::qr_image::{DecodeLimits, decode_image_bytes_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The chain contains third-party decoder panics with `catch_unwind` (rqrr #54), as the
    // daemon relies on; libfuzzer-sys's hook would abort before the unwind reaches that catch.
    // A panic that escapes `decode_image_bytes_with` still aborts in `fuzz_target!`.
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    // Small pictures keep each run fast; the limits are what production relies on too.
    let limits = DecodeLimits {
        pixels_max: 512 * 512,
        ..DecodeLimits::default()
    };
    let _ = decode_image_bytes_with(data, &limits);
});
