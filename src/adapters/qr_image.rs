//! QR decoding from images: a bounded chain of decoders with preprocessing and panic isolation.
