//! The scanner port: a source of frames from one reader device.
