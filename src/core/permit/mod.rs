//! Signed permit cards (`BP1` payloads): decode, verify against a trust list, bind to a holder.
