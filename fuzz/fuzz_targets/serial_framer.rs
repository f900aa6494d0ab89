#![no_main]
//! The serial framers and the SSI decoder on arbitrary bytes, split at an arbitrary point:
//! never panic, bounded output, and the split does not change the frames.

use checkpointd::core::frame::serial::{Framing, SerialFramer};
use checkpointd::core::frame::ssi::SsiDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let cut = usize::from(cut).min(bytes.len());
    for framing in [Framing::Cr, Framing::Crlf, Framing::StxEtx] {
        let mut whole = Vec::new();
        SerialFramer::new(framing).push(bytes, &mut whole);
        let mut split = Vec::new();
        let mut framer = SerialFramer::new(framing);
        framer.push(&bytes[..cut], &mut split);
        framer.push(&bytes[cut..], &mut split);
        assert_eq!(whole, split);
    }
    let mut packets = Vec::new();
    SsiDecoder::new().push(bytes, &mut packets);
});
