//! The gate port: the turnstile or door a kiosk opens after it recorded a crossing.
//!
//! The calls block (a serial exchange with a timeout): the lane makes them on a blocking thread.

/// A kiosk's gate.
pub trait Gate: Send {
    /// Asks the gate whether it answers; `Err` says why not.
    fn ping(&mut self) -> Result<(), String>;
    /// Opens the gate for one traveller; `Err` says why it did not.
    fn open(&mut self) -> Result<(), String>;
}
