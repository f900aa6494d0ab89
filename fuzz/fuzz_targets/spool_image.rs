//! Fuzz the image spool's decode path as the worker process runs it: arbitrary file bytes through
//! `decode_worker::answer` (the decoder chain under the production time budget), then the
//! daemon's reading of that answer. No input may panic, the answer must read back code for line,
//! and an input whose decoding runs away shows as a libFuzzer timeout (`-timeout` in
//! `scripts/fuzz`): in the daemon the worker would be killed at the budget, here it is found.
#![no_main]

use std::sync::Once;

use checkpointd::adapters::devices::decode_worker::{answer, read_answer};
use checkpointd::adapters::qr_image::DecodeLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As in `qr_image`: contained decoder panics must reach their `catch_unwind`.
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    // The production budget; small pictures keep each run fast.
    let limits = DecodeLimits {
        pixels_max: 512 * 512,
        ..DecodeLimits::default()
    };
    let mut out = Vec::new();
    if answer(data, &limits, &mut out).is_ok() {
        let codes = read_answer(&out).expect("the daemon reads what the worker wrote");
        assert_eq!(codes.len(), out.iter().filter(|b| **b == b'\n').count());
    } else {
        assert!(out.is_empty(), "a worker that found nothing answers nothing");
    }
});
