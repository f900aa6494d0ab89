//! Crossing events: the signed, hash-chained record of an entry, exit or refused entry.
