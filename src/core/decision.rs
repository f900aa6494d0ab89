//! Lane decisions: admit, refer to an officer or refuse, with stable reason codes.
//!
//! Filled by the decisions issue.
