//! Stay evaluation over a 10-year history of 1,000 movements under all three rule kinds
//! (target: at most 20 µs). Run: `cargo bench --bench stay`.

use checkpointd::core::stay::{
    Direction, Movement, StayRule, StayRuleKind, evaluate, evaluate_all,
};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use jiff::ToSpan;
use jiff::civil::Date;

/// 500 stays of 1–6 days with 3–7-day gaps: 1,000 movements over about ten years.
fn history() -> Vec<Movement> {
    let mut day = Date::constant(2015, 1, 1);
    let mut movements = Vec::with_capacity(1_000);
    for index in 0..500i64 {
        movements.push(Movement {
            date: day,
            direction: Direction::Entry,
        });
        day = day.checked_add((index % 6).days()).expect("in range");
        movements.push(Movement {
            date: day,
            direction: Direction::Exit,
        });
        day = day.checked_add((3 + index % 5).days()).expect("in range");
    }
    movements
}

fn bench_stay(criterion: &mut Criterion) {
    let movements = history();
    let check_date = movements
        .last()
        .map(|movement| movement.date)
        .expect("history is not empty");
    let rules = [
        StayRule::new(StayRuleKind::Rolling { window_days: 180 }, 90).expect("valid"),
        StayRule::new(StayRuleKind::CalendarYear, 90).expect("valid"),
        StayRule::new(StayRuleKind::PerStay, 90).expect("valid"),
    ];
    // The figure: one history, all three rules, read once.
    criterion.bench_function("stay_1000_movements_three_rules_one_pass", |bencher| {
        bencher.iter(|| black_box(evaluate_all(&rules, black_box(&movements), check_date)));
    });
    criterion.bench_function("stay_1000_movements_three_rules", |bencher| {
        bencher.iter(|| {
            for rule in &rules {
                black_box(evaluate(rule, black_box(&movements), check_date));
            }
        });
    });
    for rule in &rules {
        criterion.bench_function(
            &format!("stay_1000_movements_{}", rule.describe()),
            |bencher| {
                bencher.iter(|| black_box(evaluate(rule, black_box(&movements), check_date)));
            },
        );
    }
}

criterion_group!(benches, bench_stay);
criterion_main!(benches);
