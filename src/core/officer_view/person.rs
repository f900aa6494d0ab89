//! The document holder's dates as the officer reads them: `DD.MM.YYYY`, age, minor flag,
//! document expiry status.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Serialize;

use crate::core::decision::DocumentExpiry;

/// Below this age a traveller is a minor.
pub const MINOR_AGE_YEARS: i16 = 18;
/// A document ending within this many months is flagged as expiring soon.
pub const EXPIRY_SOON_MONTHS: i64 = 6;

/// A civil date as officers write it: `DD.MM.YYYY`.
pub fn day_text(date: Date) -> String {
    date.strftime("%d.%m.%Y").to_string()
}

/// An instant as a 24-hour local time in the checkpoint's zone: `DD.MM.YYYY HH:MM`.
pub fn time_text(at: Timestamp, time_zone: &TimeZone) -> String {
    at.to_zoned(time_zone.clone())
        .strftime("%d.%m.%Y %H:%M")
        .to_string()
}

/// Whole years from `birth` to `today` (a birthday counts from its day; 29 February from
/// 1 March in other years).
pub fn age_on(birth: Date, today: Date) -> i16 {
    let before_birthday = (today.month(), today.day()) < (birth.month(), birth.day());
    today.year() - birth.year() - i16::from(before_birthday)
}

/// The birth date, the age on the check date and whether the holder is a minor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BirthView {
    /// `DD.MM.YYYY`.
    pub date: String,
    /// Whole years on the check date.
    pub age: i16,
    /// Under [`MINOR_AGE_YEARS`].
    pub minor: bool,
}

/// The birth view of a known birth date.
pub fn birth_view(birth: Date, today: Date) -> BirthView {
    let age = age_on(birth, today);
    BirthView {
        date: day_text(birth),
        age,
        minor: age < MINOR_AGE_YEARS,
    }
}

/// Where the document stands against its expiry date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryStatus {
    /// The last valid day has passed.
    Expired,
    /// Valid, ending within [`EXPIRY_SOON_MONTHS`].
    ExpiresSoon,
    /// Valid beyond that.
    Valid,
    /// A lifetime document.
    NoExpiry,
    /// The expiry could not be read.
    Unknown,
}

/// The expiry date (`DD.MM.YYYY`, when there is one) and its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiryView {
    /// `DD.MM.YYYY`.
    pub date: Option<String>,
    /// Expired, expiring soon, valid…
    pub status: ExpiryStatus,
}

/// Judges the document's expiry on `today`.
pub fn expiry_view(expiry: &DocumentExpiry, today: Date) -> ExpiryView {
    match expiry {
        DocumentExpiry::On(date) => {
            // Past the representable range means far away: valid.
            let soon = today
                .checked_add(Span::new().months(EXPIRY_SOON_MONTHS))
                .unwrap_or(Date::MAX);
            let status = if *date < today {
                ExpiryStatus::Expired
            } else if *date <= soon {
                ExpiryStatus::ExpiresSoon
            } else {
                ExpiryStatus::Valid
            };
            ExpiryView {
                date: Some(day_text(*date)),
                status,
            }
        }
        DocumentExpiry::Never => ExpiryView {
            date: None,
            status: ExpiryStatus::NoExpiry,
        },
        DocumentExpiry::Unknown => ExpiryView {
            date: None,
            status: ExpiryStatus::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn ages_and_minor_flags() {
        let today = date(2026, 12, 7);
        #[rustfmt::skip]
        let rows = [
            // birth, age, minor
            (date(1990, 4, 12), 36, false),
            (date(2010, 3, 1), 16, true),        // the 16-year-old
            (date(2008, 12, 7), 18, false),      // 18 today
            (date(2008, 12, 8), 17, true),       // 18 tomorrow
            (date(2008, 2, 29), 18, false),      // leap-day birth, well past
            (date(2026, 12, 7), 0, true),        // born today
        ];
        for (birth, age, minor) in rows {
            let view = birth_view(birth, today);
            assert_eq!((view.age, view.minor), (age, minor), "{birth}");
        }
        assert_eq!(birth_view(date(1990, 4, 12), today).date, "12.04.1990");
        // 29 February counts from 1 March in a common year.
        assert_eq!(age_on(date(2008, 2, 29), date(2026, 2, 28)), 17);
        assert_eq!(age_on(date(2008, 2, 29), date(2026, 3, 1)), 18);
    }

    #[test]
    fn expiry_statuses() {
        let today = date(2026, 12, 7);
        #[rustfmt::skip]
        let rows = [
            (DocumentExpiry::On(date(2026, 12, 6)), Some("06.12.2026"), ExpiryStatus::Expired),
            (DocumentExpiry::On(date(2026, 12, 7)), Some("07.12.2026"), ExpiryStatus::ExpiresSoon),
            (DocumentExpiry::On(date(2027, 6, 7)), Some("07.06.2027"), ExpiryStatus::ExpiresSoon),
            (DocumentExpiry::On(date(2027, 6, 8)), Some("08.06.2027"), ExpiryStatus::Valid),
            (DocumentExpiry::On(date(2032, 5, 29)), Some("29.05.2032"), ExpiryStatus::Valid),
            (DocumentExpiry::Never, None, ExpiryStatus::NoExpiry),
            (DocumentExpiry::Unknown, None, ExpiryStatus::Unknown),
        ];
        for (expiry, text, status) in rows {
            let view = expiry_view(&expiry, today);
            assert_eq!(
                (view.date.as_deref(), view.status),
                (text, status),
                "{expiry:?}"
            );
        }
        // Near the end of the calendar the six months cannot overflow.
        assert_eq!(
            expiry_view(&DocumentExpiry::On(date(9999, 12, 31)), date(9999, 12, 1)).status,
            ExpiryStatus::ExpiresSoon
        );
    }

    #[test]
    fn times_are_24_hour_in_the_zone() {
        let zone = TimeZone::get("Asia/Baku").expect("zone");
        let at: Timestamp = "2026-12-07T11:05:00Z".parse().expect("instant");
        assert_eq!(time_text(at, &zone), "07.12.2026 15:05");
    }
}
