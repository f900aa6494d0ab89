//! Byte-stream framing for scanners (serial framers, HID report decoding, MRZ line assembly).
