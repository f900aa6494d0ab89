#![no_main]
//! A device's whole input path as the daemon drives it (`DevicePipeline`): serial framing, Zebra
//! SSI packets, HID POS and boot keyboard reports, AIM routing and MRZ line assembly with its
//! timeout, then the assembled MRZ through the MRZ parser. Never a panic, and every scan is bounded.

use std::time::Duration;

use checkpointd::core::frame::hid_pos::HidPosLayout;
use checkpointd::core::frame::pipeline::{InputKind, PipelineOutput, ScanKind};
use checkpointd::core::frame::serial::Framing;
use checkpointd::core::frame::{DevicePipeline, FRAME_BYTES_MAX, ScanContent};
use checkpointd::core::mrz::{self, Mode, ParseOptions};
use libfuzzer_sys::fuzz_target;

const MRZ_LINE_TIMEOUT: Duration = Duration::from_millis(500);

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the device set-up, byte 1 the chunk size and the time between chunks.
    let [setup, pace, bytes @ ..] = data else {
        return;
    };
    let input = match setup % 6 {
        0 => InputKind::Serial {
            framing: Framing::Cr,
            ack_nak: setup & 0x08 != 0,
        },
        1 => InputKind::Serial {
            framing: Framing::Crlf,
            ack_nak: setup & 0x08 != 0,
        },
        2 => InputKind::Serial {
            framing: Framing::StxEtx,
            ack_nak: setup & 0x08 != 0,
        },
        3 => InputKind::Ssi,
        4 => InputKind::HidPos(HidPosLayout::default()),
        _ => InputKind::Keyboard,
    };
    let reports = matches!(input, InputKind::HidPos(_) | InputKind::Keyboard);
    let aim = setup & 0x10 != 0;
    let content = match (setup >> 5) % 3 {
        0 => ScanContent::Symbol,
        1 => ScanContent::Mrz,
        _ => ScanContent::Auto,
    };
    let chunk = usize::from(pace % 64) + 1;
    let step = Duration::from_millis(u64::from(pace >> 6) * 300);

    let mut pipeline = DevicePipeline::new(input, aim, content, MRZ_LINE_TIMEOUT);
    let mut out = Vec::new();
    let mut now = Duration::ZERO;
    for piece in bytes.chunks(chunk) {
        if reports {
            pipeline.push_report(piece, now, &mut out);
        } else {
            pipeline.push_bytes(piece, now, &mut out);
        }
        now += step;
        if pipeline.deadline().is_some_and(|deadline| deadline <= now) {
            pipeline.poll(now, &mut out);
        }
    }
    pipeline.disconnected(&mut out);

    let options = ParseOptions {
        mode: Mode::Tolerant,
        reference_date: "2026-11-23".parse().expect("a literal ISO date parses"),
        french_national_id: false,
    };
    for output in &out {
        if let PipelineOutput::Scan(scan) = output {
            assert!(
                scan.payload.len() <= FRAME_BYTES_MAX,
                "scan of {} bytes",
                scan.payload.len()
            );
            if let ScanKind::Mrz(lines) = &scan.kind {
                let _ = mrz::parse(&lines.expose().join("\n"), &options).is_valid();
            }
        }
    }
});
