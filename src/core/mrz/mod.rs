//! ICAO Doc 9303 machine-readable zones: detect, parse, validate, repair and explain.
