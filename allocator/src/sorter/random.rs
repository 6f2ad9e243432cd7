//! The weighted random sorter: each `sort` draws a fresh order in which a client comes early with
//! probability proportional to its weight (the product of its path's weights when hierarchical).
//! The generator is seeded, so a run is repeatable.

use std::collections::HashMap;

use super::{add_into, sub_from, Sorter};
use libprocess::rng::Rng;

struct Client {
    name: String,
    active: bool,
    alloc: Vec<i64>,
}

/// See the module docs.
pub struct RandomSorter {
    hierarchical: bool,
    rng: Rng,
    clients: HashMap<u32, Client>,
    weights: HashMap<String, f64>,
    order: Vec<u32>,
    keys: Vec<(f64, u32)>,
}

impl RandomSorter {
    /// A sorter drawing from a generator seeded with `seed`.
    pub fn new(hierarchical: bool, seed: u64) -> RandomSorter {
        RandomSorter {
            hierarchical,
            rng: Rng::new(seed),
            clients: HashMap::new(),
            weights: HashMap::new(),
            order: Vec::new(),
            keys: Vec::new(),
        }
    }

    fn weight(&self, name: &str) -> f64 {
        if !self.hierarchical {
            return 1.0;
        }
        let mut w = self.weights.get(name).copied().unwrap_or(1.0);
        for a in mesos_api::roles::ancestors(name) {
            w *= self.weights.get(a).copied().unwrap_or(1.0);
        }
        w
    }
}

impl Sorter for RandomSorter {
    fn add(&mut self, client: u32, name: &str) {
        self.clients.entry(client).or_insert(Client {
            name: name.to_string(),
            active: false,
            alloc: Vec::new(),
        });
    }
    fn remove(&mut self, client: u32) {
        self.clients.remove(&client);
    }
    fn activate(&mut self, client: u32) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.active = true;
        }
    }
    fn deactivate(&mut self, client: u32) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.active = false;
        }
    }
    fn set_weight(&mut self, path: &str, weight: f64) {
        self.weights.insert(path.to_string(), weight);
    }
    fn allocated(&mut self, client: u32, q: &[i64]) {
        if let Some(c) = self.clients.get_mut(&client) {
            add_into(&mut c.alloc, q);
        }
    }
    fn unallocated(&mut self, client: u32, q: &[i64]) {
        if let Some(c) = self.clients.get_mut(&client) {
            sub_from(&mut c.alloc, q);
        }
    }
    fn set_total(&mut self, _total: &[i64]) {}

    fn sort(&mut self) -> &[u32] {
        // Efraimidis-Spirakis: key = u^(1/w); larger keys first.
        let mut ids: Vec<(u32, String)> = self
            .clients
            .iter()
            .filter(|(_, c)| c.active)
            .map(|(&id, c)| (id, c.name.clone()))
            .collect();
        ids.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        self.keys.clear();
        for (id, name) in ids {
            let w = self.weight(&name).max(f64::MIN_POSITIVE);
            let u = self.rng.next_f64().max(f64::MIN_POSITIVE);
            self.keys.push((u.powf(1.0 / w), id));
        }
        self.keys
            .sort_unstable_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        self.order.clear();
        self.order.extend(self.keys.iter().map(|k| k.1));
        &self.order
    }

    fn next(&mut self, cur: &mut super::Cursor) -> Option<u32> {
        // A fresh draw for every walk; the position is the stack's single entry.
        if !cur.started {
            self.sort();
            cur.started = true;
            cur.stack.clear();
            cur.stack.push((0, 0));
        }
        let pos = cur.stack.first_mut()?;
        let c = self.order.get(pos.1).copied();
        pos.1 += 1;
        c
    }

    fn allocation(&self, client: u32) -> &[i64] {
        self.clients.get(&client).map_or(&[], |c| &c.alloc)
    }

    fn subtree_allocation(&self, _path: &str) -> Option<&[i64]> {
        None
    }

    fn contains(&self, client: u32) -> bool {
        self.clients.contains_key(&client)
    }
}
