//! Stay-limit engine: visa-free days, calendar-year and rolling windows, registration deadlines.
