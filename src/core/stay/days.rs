//! Calendar dates as consecutive day numbers, so counting is integer arithmetic.

use jiff::civil::Date;

/// A calendar date as the number of days since 1970-01-01 (negative before).
///
/// Every date jiff can represent (years -9999..=9999) fits in an `i32` with room to add
/// `DAYS_MAX`-sized windows without overflow.
pub(crate) type Day = i32;

/// Day number of a civil date (proleptic Gregorian), after H. Hinnant's `days_from_civil`.
///
/// Hand-written because it runs once per movement on the hot path; the property test
/// `day_number_matches_jiff` checks it against jiff's own arithmetic.
pub(crate) fn day_number(date: Date) -> Day {
    let month = i32::from(date.month());
    let year = i32::from(date.year()) - i32::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + i32::from(date.day()) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day number, clamped to jiff's representable range.
pub(crate) fn date_of(day: Day) -> Date {
    let epoch = Date::constant(1970, 1, 1);
    match epoch.checked_add(jiff::Span::new().days(i64::from(day))) {
        Ok(date) => date,
        Err(_) if day < 0 => Date::MIN,
        Err(_) => Date::MAX,
    }
}

/// Day number of 1 January of the year containing `day`.
pub(crate) fn first_of_year(day: Day) -> Day {
    day - i32::from(date_of(day).day_of_year()) + 1
}

/// Day number of 1 January of the year after the one containing `day`.
pub(crate) fn first_of_next_year(day: Day) -> Day {
    let year = date_of(day).year();
    Date::new(year.saturating_add(1), 1, 1).map_or(Day::MAX / 4, day_number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn day_number_matches_jiff(offset in -4_000_000i32..=2_932_896) {
            let date = date_of(offset);
            prop_assert_eq!(day_number(date), offset);
            let epoch = Date::constant(1970, 1, 1);
            let span = date.since((jiff::Unit::Day, epoch)).expect("dates are in range");
            prop_assert_eq!(i64::from(span.get_days()), i64::from(offset));
        }
    }

    #[test]
    fn known_dates() {
        for (date, expected) in [
            (Date::constant(1970, 1, 1), 0),
            (Date::constant(2000, 3, 1), 11_017),
            (Date::constant(1969, 12, 31), -1),
            (Date::constant(2024, 2, 29), 19_782),
        ] {
            assert_eq!(day_number(date), expected, "{date}");
            assert_eq!(date_of(expected), date);
        }
        assert_eq!(date_of(day_number(Date::constant(2024, 7, 9))).year(), 2024);
        // Beyond jiff's range the date clamps rather than panicking.
        assert_eq!(date_of(day_number(Date::MAX) + 1), Date::MAX);
        assert_eq!(date_of(day_number(Date::MIN) - 1), Date::MIN);
        assert_eq!(
            first_of_next_year(day_number(Date::constant(2023, 12, 31))),
            day_number(Date::constant(2024, 1, 1))
        );
        assert_eq!(
            first_of_year(day_number(Date::constant(2024, 7, 9))),
            day_number(Date::constant(2024, 1, 1))
        );
    }
}
