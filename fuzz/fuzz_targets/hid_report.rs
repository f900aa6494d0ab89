#![no_main]
//! HID report decoders on arbitrary input: the report descriptor parser, the HID POS assembler
//! and the boot keyboard decoder (input cut into 8- and 64-byte reports). Never panic.

use checkpointd::core::frame::descriptor::parse_report_descriptor;
use checkpointd::core::frame::hid_pos::{HidPosAssembler, HidPosLayout};
use checkpointd::core::frame::keyboard::BootKeyboardDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let layout = match parse_report_descriptor(data) {
        Ok(descriptor) => HidPosLayout::from_descriptor(&descriptor),
        Err(_) => HidPosLayout::default(),
    };
    let mut assembler = HidPosAssembler::new(layout);
    for report in data.chunks(64) {
        let _ = assembler.push_report(report);
    }
    let mut keyboard = BootKeyboardDecoder::new();
    let mut out = Vec::new();
    for report in data.chunks(8) {
        keyboard.push_report(report, &mut out);
    }
});
