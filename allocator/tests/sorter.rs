//! The sorters' own tests (after Mesos's SorterTest), and the incremental DRF order checked
//! against a sort from scratch over random operations.

use mesos_allocator::sorter::{Cursor, DrfSorter, RandomSorter, Sorter};
use proptest::prelude::*;

// Name indices: 0 = cpus, 1 = mem.
fn q(cpus: i64, mem: i64) -> Vec<i64> {
    vec![cpus * 1000, mem * 1000]
}

#[test]
fn drf_orders_by_dominant_share() {
    let mut s = DrfSorter::new(false, vec![]);
    s.set_total(&q(100, 100));
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        s.add(i as u32, n);
        s.activate(i as u32);
    }
    s.allocated(0, &q(10, 1)); // a: 0.10
    s.allocated(1, &q(1, 20)); // b: 0.20
    s.allocated(2, &q(5, 5)); // c: 0.05
    assert_eq!(s.sort(), &[2, 0, 1]);
    s.unallocated(1, &q(1, 20));
    assert_eq!(s.sort(), &[1, 2, 0]);
}

#[test]
fn drf_breaks_ties_by_allocation_count_then_name() {
    let mut s = DrfSorter::new(false, vec![]);
    s.set_total(&q(100, 100));
    s.add(0, "b");
    s.add(1, "a");
    s.activate(0);
    s.activate(1);
    assert_eq!(s.sort(), &[1, 0], "equal shares and counts: by name");
    s.allocated(1, &q(5, 0));
    s.unallocated(1, &q(5, 0));
    assert_eq!(s.sort(), &[0, 1], "equal shares: fewer allocations first");
}

#[test]
fn drf_weights_divide_shares() {
    let mut s = DrfSorter::new(true, vec![]);
    s.set_total(&q(100, 100));
    s.set_weight("heavy", 4.0);
    s.add(0, "heavy");
    s.add(1, "light");
    s.activate(0);
    s.activate(1);
    s.allocated(0, &q(30, 0)); // 0.30 / 4
    s.allocated(1, &q(10, 0)); // 0.10
    assert_eq!(s.sort(), &[0, 1]);
}

#[test]
fn drf_inactive_clients_are_kept_out_of_the_order_but_count() {
    let mut s = DrfSorter::new(true, vec![]);
    s.set_total(&q(100, 100));
    s.add(0, "eng/a");
    s.add(1, "eng/b");
    s.add(2, "ops");
    for i in 0..3 {
        s.activate(i);
    }
    s.allocated(0, &q(50, 0));
    s.deactivate(0);
    assert_eq!(s.sort(), &[2, 1], "eng's subtree carries a's allocation");
    s.activate(0);
    assert_eq!(s.sort(), &[2, 1, 0]);
    assert_eq!(s.subtree_allocation("eng"), Some(&q(50, 0)[..]));
}

#[test]
fn drf_excluded_resources_do_not_count() {
    let mut s = DrfSorter::new(false, vec![1]);
    s.set_total(&q(100, 100));
    s.add(0, "a");
    s.add(1, "b");
    s.activate(0);
    s.activate(1);
    s.allocated(0, &q(10, 0));
    s.allocated(1, &q(1, 90)); // mem excluded: share 0.01
    assert_eq!(s.sort(), &[1, 0]);
}

#[test]
fn drf_a_role_competes_with_its_own_subroles() {
    let mut s = DrfSorter::new(true, vec![]);
    s.set_total(&q(100, 100));
    s.add(0, "eng");
    s.add(1, "eng/web");
    s.add(2, "ops");
    for i in 0..3 {
        s.activate(i);
    }
    s.allocated(0, &q(30, 0));
    s.allocated(2, &q(10, 0));
    // ops (0.1) before eng's subtree (0.3); inside eng, web (0) before eng itself (0.3).
    assert_eq!(s.sort(), &[2, 1, 0]);
}

#[test]
fn random_sorter_is_repeatable_and_weighted() {
    let run = |seed| {
        let mut s = RandomSorter::new(true, seed);
        s.add(0, "a");
        s.add(1, "b");
        s.activate(0);
        s.activate(1);
        s.set_weight("a", 9.0);
        (0..1000).filter(|_| s.sort()[0] == 0).count()
    };
    assert_eq!(run(7), run(7));
    let firsts = run(7);
    assert!(
        firsts > 800 && firsts < 980,
        "weight 9 vs 1 comes first ~90%: {firsts}"
    );
    let mut s = RandomSorter::new(false, 1);
    s.add(0, "x");
    assert!(s.sort().is_empty(), "inactive clients are not sorted");
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(u32, i64, i64),
    Unalloc(u32, i64, i64),
    Activate(u32),
    Deactivate(u32),
    Total(i64, i64),
    Weight(usize, u8),
    Sort,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..6, 0i64..20, 0i64..20).prop_map(|(c, a, b)| Op::Alloc(c, a, b)),
        2 => (0u32..6, 0i64..20, 0i64..20).prop_map(|(c, a, b)| Op::Unalloc(c, a, b)),
        1 => (0u32..6).prop_map(Op::Activate),
        1 => (0u32..6).prop_map(Op::Deactivate),
        1 => (50i64..500, 50i64..500).prop_map(|(a, b)| Op::Total(a, b)),
        1 => (0usize..4, 1u8..5).prop_map(|(p, w)| Op::Weight(p, w)),
        2 => Just(Op::Sort),
    ]
}

const NAMES: [&str; 6] = ["a", "a/x", "a/y", "b", "b/z/w", "c"];
const PATHS: [&str; 4] = ["a", "b", "b/z", "c"];

proptest! {
    #[test]
    fn incremental_order_equals_a_sort_from_scratch(ops in prop::collection::vec(op(), 1..60), hier in any::<bool>()) {
        let mut s = DrfSorter::new(hier, vec![]);
        s.set_total(&q(200, 200));
        for (i, n) in NAMES.iter().enumerate() {
            s.add(i as u32, n);
            s.activate(i as u32);
        }
        for o in ops {
            match o {
                Op::Alloc(c, a, b) => s.allocated(c, &q(a, b)),
                Op::Unalloc(c, a, b) => s.unallocated(c, &q(a, b)),
                Op::Activate(c) => s.activate(c),
                Op::Deactivate(c) => s.deactivate(c),
                Op::Total(a, b) => s.set_total(&q(a, b)),
                Op::Weight(p, w) => s.set_weight(PATHS[p], w as f64),
                Op::Sort => {
                    let inc = s.sort().to_vec();
                    let mut walked = Vec::new();
                    let mut cur = Cursor::new();
                    while let Some(c) = s.next(&mut cur) {
                        walked.push(c);
                    }
                    prop_assert_eq!(&walked, &inc, "a cursor walks the same order");
                    let scratch = s.sort_from_scratch();
                    prop_assert_eq!(inc, scratch);
                }
            }
        }
        let inc = s.sort().to_vec();
        let scratch = s.sort_from_scratch();
        prop_assert_eq!(inc, scratch);
    }
}

#[test]
fn a_cursor_restarts_from_the_front_after_the_order_changes() {
    let mut s = DrfSorter::new(false, vec![]);
    s.set_total(&q(100, 100));
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        s.add(i as u32, n);
        s.activate(i as u32);
    }
    let mut cur = Cursor::new();
    assert_eq!(s.next(&mut cur), Some(0));
    s.allocated(0, &q(50, 0)); // a moves to the back
    assert_eq!(s.next(&mut cur), Some(1), "restarted: b is first now");
    assert_eq!(s.next(&mut cur), Some(2));
    assert_eq!(s.next(&mut cur), Some(0));
    assert_eq!(s.next(&mut cur), None);
}
