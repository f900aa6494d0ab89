#![no_main]
//! The serial framers, the SSI decoder and the Honeywell menu reply reader on arbitrary bytes,
//! split at an arbitrary point: never panic, bounded output, and the split does not change the
//! frames.

use checkpointd::core::frame::FRAME_BYTES_MAX;
use checkpointd::core::frame::honeywell::MenuReplyReader;
use checkpointd::core::frame::serial::{Framing, SerialEvent, SerialFramer};
use checkpointd::core::frame::ssi::SsiDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(bytes.len());
    for framing in [Framing::Cr, Framing::Crlf, Framing::StxEtx] {
        let mut whole = Vec::new();
        SerialFramer::new(framing).push(bytes, &mut whole);
        let mut split = Vec::new();
        let mut framer = SerialFramer::new(framing);
        framer.push(&bytes[..cut], &mut split);
        framer.push(&bytes[cut..], &mut split);
        assert_eq!(whole, split);
        for event in &whole {
            if let SerialEvent::Frame(frame) = event {
                assert!(
                    frame.len() <= FRAME_BYTES_MAX,
                    "frame of {} bytes",
                    frame.len()
                );
            }
        }
    }
    let mut packets = Vec::new();
    SsiDecoder::new().push(bytes, &mut packets);
    let mut reader = MenuReplyReader::new();
    let mut rest = bytes;
    while let Some((_, used)) = reader.push(rest) {
        assert!(used >= 1 && used <= rest.len());
        rest = &rest[used..];
    }
});
