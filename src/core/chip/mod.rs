//! Reading an eMRTD chip (ICAO Doc 9303 parts 10 and 11): APDUs, secure messaging, BAC and
//! PACE access control, and LDS file reading, all pure; the card is reached through
//! [`channel::CardChannel`].
//!
//! Architecture invariant: no I/O and no clock here; randomness comes in as an `RngCore`.

pub mod active_auth;
pub mod apdu;
pub mod atr_info;
pub mod bac;
pub mod cam;
pub mod card_access;
pub mod channel;
pub mod chip_auth;
pub mod crypto;
pub mod dg14;
pub mod dh;
pub mod ec;
pub mod integrated_mapping;
pub mod lds;
pub mod link;
pub mod pace;
pub mod pace_domain;
pub mod reader;
pub mod sm;
pub mod tlv;

use channel::ChannelError;

/// Everything that can go wrong talking to a chip, each with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChipError {
    /// The card channel failed (card removed, reader gone, timeout).
    #[error("card channel: {0}")]
    Channel(#[from] ChannelError),
    /// A response was shorter than its status word.
    #[error("response of {bytes} bytes has no status word")]
    ResponseTooShort { bytes: usize },
    /// A command APDU could not be encoded or parsed.
    #[error("command APDU malformed: {why}")]
    CommandMalformed { why: &'static str },
    /// A command's data exceeded the extended-length maximum.
    #[error("command data of {bytes} bytes is longer than an APDU can carry")]
    CommandTooLong { bytes: usize },
    /// An expected length outside 1..=65536.
    #[error("expected length {le} is outside 1..=65536")]
    BadExpectedLength { le: usize },
    /// A primitive was given data of the wrong shape.
    #[error("crypto: {why}")]
    Crypto { why: &'static str },
    /// Decrypted data did not end in ISO 9797-1 padding.
    #[error("decrypted data has no ISO 9797-1 padding")]
    BadPadding,
    /// The chip answered with an error status where success was needed.
    #[error("{step}: chip answered status {sw:04X}")]
    Status { step: &'static str, sw: u16 },
    /// A secure-messaging response's MAC did not verify: the session is over.
    #[error("secure messaging: the response MAC does not verify (session ended)")]
    ResponseMacInvalid,
    /// A secure-messaging response lacked a required data object or had a foreign one.
    #[error("secure messaging: response malformed: {why}")]
    SmMalformed { why: String },
    /// The session was ended by an earlier integrity failure.
    #[error("secure messaging: the session was ended by an earlier failure")]
    SessionEnded,
    /// The chip failed mutual authentication (BAC) or its PACE token did not verify.
    #[error("{protocol}: the chip's authentication does not verify")]
    ChipNotAuthenticated { protocol: &'static str },
    /// A data object of a protocol message was missing or malformed.
    #[error("{step}: malformed {what}")]
    Malformed { step: &'static str, what: String },
    /// EF.CardAccess could not be parsed.
    #[error("EF.CardAccess: {why}")]
    CardAccess { why: String },
    /// The chip offers PACE only with parameters this reader does not implement.
    #[error("PACE: unsupported {what}")]
    PaceUnsupported { what: String },
    /// The chip offers PACE but the settings refuse falling back to BAC.
    #[error("the chip offers PACE, PACE failed ({pace}), and falling back to BAC is refused")]
    BacFallbackRefused { pace: String },
    /// A file announced a length over the configured limit.
    #[error("{file}: announced length {announced} bytes is over the limit of {limit}")]
    FileTooLarge {
        file: String,
        announced: usize,
        limit: usize,
    },
    /// A file's first bytes are not a BER-TLV header.
    #[error("{file}: the first bytes are not a TLV header ({why})")]
    FileHeader { file: String, why: &'static str },
    /// The chip kept answering a read with something other than data.
    #[error("{file}: READ BINARY at offset {offset} failed with status {sw:04X}")]
    ReadFailed {
        file: String,
        offset: usize,
        sw: u16,
    },
    /// The access password could not be built.
    #[error("access key: {why}")]
    Password { why: &'static str },
    /// A protocol step needs an extended-length APDU (2048-bit DH) and the reader carries
    /// short APDUs only; Doc 9303-10 3.6.4 requires extended length for such values, and 3.6.5
    /// keeps command chaining for linking GENERAL AUTHENTICATE steps, so there is no other way.
    #[error(
        "{step}: {bytes} bytes of command data need an extended-length APDU, which this reader does not carry (Doc 9303-10 3.6.4; command chaining cannot split GENERAL AUTHENTICATE, 3.6.5)"
    )]
    ExtendedLengthRequired { step: &'static str, bytes: usize },
    /// The chip refused an extended-length GENERAL AUTHENTICATE (6700): it does not take the
    /// extended length its own domain parameters need (Doc 9303-10 3.6.4.1).
    #[error(
        "{step}: the chip refused the extended-length APDU its 2048-bit DH parameters need (6700; Doc 9303-10 3.6.4.1)"
    )]
    ExtendedLengthRefused { step: &'static str },
}
