//! Sorters decide who is offered first. Clients are small integers chosen by the caller (a role
//! index, a framework index) with a name for tie-breaking; allocations are scalar quantities as
//! dense vectors indexed by the allocator's resource-name table.
//!
//! Two kinds, as Mesos's `--role_sorter` / `--framework_sorter`: [`DrfSorter`] (dominant
//! resource fairness, incremental) and [`RandomSorter`] (weighted random).

mod drf;
mod random;

pub use drf::DrfSorter;
pub use random::RandomSorter;

/// A position in a sorter's order, for walking it without copying it.
#[derive(Debug, Default)]
pub struct Cursor {
    version: u64,
    started: bool,
    stack: Vec<(u32, usize)>,
}

impl Cursor {
    /// A cursor before the first client.
    pub fn new() -> Cursor {
        Cursor::default()
    }

    /// Back to before the first client.
    pub fn reset(&mut self) {
        self.started = false;
        self.stack.clear();
    }
}

/// Which sorter (the `--role_sorter` / `--framework_sorter` flag values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SorterKind {
    /// `drf`: dominant resource fairness.
    Drf,
    /// `random`: weighted random order.
    Random,
}

impl std::str::FromStr for SorterKind {
    type Err = String;
    fn from_str(s: &str) -> Result<SorterKind, String> {
        match s {
            "drf" => Ok(SorterKind::Drf),
            "random" => Ok(SorterKind::Random),
            o => Err(format!("unknown sorter '{o}' (expected 'drf' or 'random')")),
        }
    }
}

/// What the allocator needs from a sorter.
pub trait Sorter: Send {
    /// Adds a client (inactive until [`Sorter::activate`]). For hierarchical sorters `name` is a
    /// role path (`eng/backend`).
    fn add(&mut self, client: u32, name: &str);
    /// Removes a client and its allocation.
    fn remove(&mut self, client: u32);
    /// Includes the client in the order.
    fn activate(&mut self, client: u32);
    /// Keeps the client out of the order (its allocation still counts for others' shares).
    fn deactivate(&mut self, client: u32);
    /// Sets the weight of a path (a role and its subtree in hierarchical sorters).
    fn set_weight(&mut self, path: &str, weight: f64);
    /// Adds to a client's allocation.
    fn allocated(&mut self, client: u32, q: &[i64]);
    /// Takes from a client's allocation.
    fn unallocated(&mut self, client: u32, q: &[i64]);
    /// Sets the pool that shares are measured against.
    fn set_total(&mut self, total: &[i64]);
    /// The active clients, first to be offered first.
    fn sort(&mut self) -> &[u32];
    /// The next client in the current order after the cursor's position. If the order changed
    /// since the cursor last moved (an allocation re-sorted it), the walk restarts from the front:
    /// callers skip clients they have already seen.
    fn next(&mut self, cursor: &mut Cursor) -> Option<u32>;
    /// A client's allocation (dense quantities).
    fn allocation(&self, client: u32) -> &[i64];
    /// The allocation of a path's whole subtree (hierarchical; a client's own for flat sorters).
    fn subtree_allocation(&self, path: &str) -> Option<&[i64]>;
    /// Whether the client is known.
    fn contains(&self, client: u32) -> bool;
}

/// Builds a sorter of a kind; `hierarchical` for role sorters; `excluded` are name indices left
/// out of DRF shares (`--fair_sharing_excluded_resource_names`).
pub fn make(
    kind: SorterKind,
    hierarchical: bool,
    excluded: Vec<usize>,
    seed: u64,
) -> Box<dyn Sorter> {
    match kind {
        SorterKind::Drf => Box::new(DrfSorter::new(hierarchical, excluded)),
        SorterKind::Random => Box::new(RandomSorter::new(hierarchical, seed)),
    }
}

/// `a += b` over dense quantities (growing `a` as needed).
pub(crate) fn add_into(a: &mut Vec<i64>, b: &[i64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// `a -= b`, flooring at zero.
pub(crate) fn sub_from(a: &mut Vec<i64>, b: &[i64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x = (*x - y).max(0);
    }
}
