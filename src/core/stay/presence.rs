//! Presence of a traveller in the territory as sorted day intervals, built from movements.

use super::days::{Day, day_number};
use super::{Direction, Movement};

/// Sorted, disjoint, inclusive day intervals with prefix sums, so that counting the days in any
/// range is two binary searches.
#[derive(Debug, Default)]
pub(crate) struct Intervals {
    starts: Vec<Day>,
    ends: Vec<Day>,
    /// Days in all intervals before index `i`.
    days_before: Vec<u32>,
}

impl Intervals {
    /// Builds from intervals sorted by start, merging overlapping and touching ones.
    pub(crate) fn from_sorted(sorted: impl IntoIterator<Item = (Day, Day)>) -> Self {
        let mut intervals = Intervals::default();
        for (start, end) in sorted {
            if end < start {
                continue;
            }
            match intervals.ends.last_mut() {
                Some(last_end) if start <= last_end.saturating_add(1) => {
                    *last_end = (*last_end).max(end);
                }
                _ => {
                    intervals.starts.push(start);
                    intervals.ends.push(end);
                }
            }
        }
        let mut total = 0u32;
        intervals.days_before = intervals
            .starts
            .iter()
            .zip(&intervals.ends)
            .map(|(start, end)| {
                let before = total;
                total = total.saturating_add(span_days(*start, *end));
                before
            })
            .collect();
        intervals
    }

    /// Builds from intervals in any order.
    pub(crate) fn from_unsorted(mut unsorted: Vec<(Day, Day)>) -> Self {
        unsorted.sort_unstable();
        Self::from_sorted(unsorted)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The intervals, in order, as inclusive `(first, last)` days.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Day, Day)> + '_ {
        self.starts.iter().copied().zip(self.ends.iter().copied())
    }

    /// Index of the last interval starting on or before `day`.
    fn index_at(&self, day: Day) -> Option<usize> {
        self.starts
            .partition_point(|start| *start <= day)
            .checked_sub(1)
    }

    /// Days covered on or before `day`.
    fn days_up_to(&self, day: Day) -> u32 {
        let Some(index) = self.index_at(day) else {
            return 0;
        };
        let (start, end) = (self.starts[index], self.ends[index]);
        self.days_before[index].saturating_add(span_days(start, end.min(day)))
    }

    /// Days covered in `[first, last]`; 0 when the range is empty.
    pub(crate) fn count(&self, first: Day, last: Day) -> u32 {
        if last < first {
            return 0;
        }
        self.days_up_to(last)
            .saturating_sub(self.days_up_to(first.saturating_sub(1)))
    }

    /// These intervals with every day of `removed` taken out.
    pub(crate) fn without(self, removed: &Intervals) -> Intervals {
        if removed.is_empty() {
            return self;
        }
        let mut kept = Vec::with_capacity(self.starts.len());
        for (&start, &end) in self.starts.iter().zip(&self.ends) {
            let mut from = start;
            let first_cut = removed.ends.partition_point(|cut_end| *cut_end < start);
            for (&cut_start, &cut_end) in removed.starts[first_cut..]
                .iter()
                .zip(&removed.ends[first_cut..])
            {
                if cut_start > end {
                    break;
                }
                if cut_start > from {
                    kept.push((from, cut_start - 1));
                }
                from = from.max(cut_end.saturating_add(1));
            }
            if from <= end {
                kept.push((from, end));
            }
        }
        Intervals::from_sorted(kept)
    }
}

/// Days in the inclusive range `[start, end]`, 0 when empty.
pub(crate) fn span_days(start: Day, end: Day) -> u32 {
    u32::try_from(i64::from(end) - i64::from(start) + 1).unwrap_or(0)
}

/// A movement history read up to the check date: the stays it contains and the data-quality
/// flags raised while reading it.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    /// Stays in order, inclusive; a stay still open on the check date ends on it.
    pub(crate) stays: Vec<(Day, Day)>,
    pub(crate) missing_exit: bool,
    pub(crate) missing_entry: bool,
    pub(crate) check: Day,
}

impl Timeline {
    /// Reads movements up to and including `check`, sorted by date with the given order kept
    /// within a date.
    pub(crate) fn read(movements: &[Movement], check: Day) -> Self {
        let mut dated: Vec<(Day, Direction)> = movements
            .iter()
            .map(|movement| (day_number(movement.date), movement.direction))
            .filter(|(day, _)| *day <= check)
            .collect();
        // Stable, so the recorded order within one date survives (exit then re-entry).
        dated.sort_by_key(|(day, _)| *day);

        let mut timeline = Timeline {
            stays: Vec::with_capacity(dated.len() / 2 + 1),
            missing_exit: false,
            missing_entry: false,
            check,
        };
        let mut open_since: Option<Day> = None;
        for (day, direction) in dated {
            match (direction, open_since) {
                (Direction::Entry, None) => open_since = Some(day),
                // Entry while inside: presence stays continuous from the first unmatched entry.
                (Direction::Entry, Some(_)) => timeline.missing_exit = true,
                (Direction::Exit, Some(start)) => {
                    timeline.stays.push((start, day));
                    open_since = None;
                }
                // Exit while outside: only the exit date is known to be a day of presence. A
                // repeated exit on the date the last stay ended adds nothing and must not cut
                // that stay short for a per-stay rule.
                (Direction::Exit, None) => {
                    timeline.missing_entry = true;
                    if timeline.stays.last().is_none_or(|(_, end)| *end != day) {
                        timeline.stays.push((day, day));
                    }
                }
            }
        }
        if let Some(start) = open_since {
            timeline.stays.push((start, check));
        }
        timeline
    }

    /// Start of the stay containing the check date; the latest one when an exit and a
    /// re-entry fall on it.
    pub(crate) fn stay_on_check(&self) -> Option<Day> {
        self.stays
            .last()
            .filter(|(_, end)| *end == self.check)
            .map(|(start, _)| *start)
    }

    /// Every day of presence, each date once.
    pub(crate) fn presence(&self) -> Intervals {
        // Stays are in order of start: each begins on or after the previous one's end.
        Intervals::from_sorted(self.stays.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_days_in_ranges() {
        let intervals = Intervals::from_sorted([(1, 3), (3, 5), (10, 10), (12, 20)]);
        assert_eq!(intervals.count(0, 100), 5 + 1 + 9);
        assert_eq!(intervals.count(4, 11), 3);
        assert_eq!(intervals.count(11, 4), 0);
        assert_eq!(intervals.iter().last(), Some((12, 20)));
    }

    #[test]
    fn without_cuts_days_out() {
        let intervals = Intervals::from_sorted([(1, 10), (20, 30)]);
        let cut = Intervals::from_sorted([(0, 2), (5, 6), (9, 22), (30, 40)]);
        let kept = intervals.without(&cut);
        assert_eq!(kept.starts, vec![3, 7, 23]);
        assert_eq!(kept.ends, vec![4, 8, 29]);
    }
}
