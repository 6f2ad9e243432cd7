//! The DRF sorter, incremental and optionally hierarchical.
//!
//! Clients are leaves of a tree of role paths (`eng`, `eng/backend`); in a hierarchical sorter a
//! client named `eng` sits under the path node `eng` as its own leaf, competing with `eng`'s
//! sub-roles, so every level is sorted among siblings only. A node's share is the largest
//! fraction, over resource names (less excluded ones), of its subtree's allocation in the total,
//! divided by its weight; ties go to fewer allocations, then the name. After an allocation
//! changes, only the nodes on that client's path are re-positioned among their siblings (binary
//! search by key); a change of the total marks everything dirty, and the next `sort` re-sorts all.
//! Inactive clients stay out of their parent's sorted children, so they never appear in the order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::{add_into, sub_from, Sorter};

const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

struct Node {
    name: Arc<str>,
    parent: u32,
    /// Sorted by key: internal nodes and active leaves.
    children: Vec<u32>,
    client: u32,
    alloc: Vec<i64>,
    count: u64,
    weight: f64,
    share: f64,
    active: bool,
}

/// See the module docs.
pub struct DrfSorter {
    hierarchical: bool,
    excluded: Vec<usize>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    paths: HashMap<Arc<str>, u32>,
    clients: Vec<u32>,
    weights: HashMap<String, f64>,
    total: Vec<i64>,
    order: Vec<u32>,
    order_dirty: bool,
    full_dirty: bool,
    /// Bumped on every change of the order (cursors restart when it moves).
    version: u64,
}

impl DrfSorter {
    /// A new sorter; `excluded` resource-name indices do not count towards shares.
    pub fn new(hierarchical: bool, excluded: Vec<usize>) -> DrfSorter {
        let root = Node {
            name: Arc::from(""),
            parent: NONE,
            children: Vec::new(),
            client: NONE,
            alloc: Vec::new(),
            count: 0,
            weight: 1.0,
            share: 0.0,
            active: true,
        };
        DrfSorter {
            hierarchical,
            excluded,
            nodes: vec![root],
            free: Vec::new(),
            paths: HashMap::new(),
            clients: Vec::new(),
            weights: HashMap::new(),
            total: Vec::new(),
            order: Vec::new(),
            order_dirty: false,
            full_dirty: false,
            version: 0,
        }
    }

    fn new_node(&mut self, name: Arc<str>, parent: u32, client: u32, weight: f64) -> u32 {
        let n = Node {
            name,
            parent,
            children: Vec::new(),
            client,
            alloc: Vec::new(),
            count: 0,
            weight,
            share: 0.0,
            active: client == NONE,
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = n;
                i
            }
            None => {
                self.nodes.push(n);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn compute_share(&self, alloc: &[i64], weight: f64) -> f64 {
        let mut s: f64 = 0.0;
        for (i, (&a, &t)) in alloc.iter().zip(&self.total).enumerate() {
            if t > 0 && a > 0 && !self.excluded.contains(&i) {
                s = s.max(a as f64 / t as f64);
            }
        }
        s / weight
    }

    fn cmp_nodes(&self, a: u32, b: u32) -> Ordering {
        let (x, y) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        x.share
            .partial_cmp(&y.share)
            .unwrap_or(Ordering::Equal)
            .then(x.count.cmp(&y.count))
            .then_with(|| x.name.cmp(&y.name))
    }

    fn insert_sorted(&mut self, parent: u32, node: u32) {
        let pos = {
            let ch = &self.nodes[parent as usize].children;
            ch.partition_point(|&c| self.cmp_nodes(c, node) == Ordering::Less)
        };
        self.nodes[parent as usize].children.insert(pos, node);
    }

    /// Removes `node` from its parent's children (located by its current key).
    fn unlink_sorted(&mut self, node: u32) -> bool {
        let parent = self.nodes[node as usize].parent;
        let ch = &self.nodes[parent as usize].children;
        let pos = ch.partition_point(|&c| self.cmp_nodes(c, node) == Ordering::Less);
        let pos = if ch.get(pos) == Some(&node) {
            Some(pos)
        } else {
            // The key drifted (a full re-sort is pending); fall back to a scan.
            ch.iter().position(|&c| c == node)
        };
        match pos {
            Some(p) => {
                self.nodes[parent as usize].children.remove(p);
                true
            }
            None => false,
        }
    }

    /// The path node for `path`, creating it and its ancestors.
    fn path_node(&mut self, path: &str) -> u32 {
        if let Some(&n) = self.paths.get(path) {
            return n;
        }
        let parent = match path.rfind('/') {
            Some(i) => self.path_node(&path[..i]),
            None => ROOT,
        };
        let w = self.weight_of(path);
        let name: Arc<str> = Arc::from(path);
        let n = self.new_node(name.clone(), parent, NONE, w);
        self.paths.insert(name, n);
        self.insert_sorted(parent, n);
        n
    }

    fn weight_of(&self, path: &str) -> f64 {
        self.weights.get(path).copied().unwrap_or(1.0)
    }

    fn leaf(&self, client: u32) -> Option<u32> {
        self.clients
            .get(client as usize)
            .copied()
            .filter(|&n| n != NONE)
    }

    /// Applies a change of allocation along the client's path, re-positioning each node.
    fn update_path(&mut self, leaf: u32, q: &[i64], add: bool) {
        let mut n = leaf;
        while n != ROOT {
            let linked =
                (self.nodes[n as usize].active) && !self.full_dirty && self.unlink_sorted(n);
            {
                let node = &mut self.nodes[n as usize];
                if add {
                    add_into(&mut node.alloc, q);
                    node.count += 1;
                } else {
                    sub_from(&mut node.alloc, q);
                }
            }
            let share = {
                let node = &self.nodes[n as usize];
                self.compute_share(&node.alloc, node.weight)
            };
            self.nodes[n as usize].share = share;
            if linked {
                let p = self.nodes[n as usize].parent;
                self.insert_sorted(p, n);
            }
            n = self.nodes[n as usize].parent;
        }
        if add {
            add_into(&mut self.nodes[ROOT as usize].alloc, q);
        } else {
            sub_from(&mut self.nodes[ROOT as usize].alloc, q);
        }
        self.order_dirty = true;
        self.version += 1;
    }

    fn resort_all(&mut self) {
        for i in 1..self.nodes.len() {
            let share = self.compute_share(&self.nodes[i].alloc, self.nodes[i].weight);
            self.nodes[i].share = share;
        }
        for i in 0..self.nodes.len() {
            let mut ch = std::mem::take(&mut self.nodes[i].children);
            ch.sort_by(|&a, &b| self.cmp_nodes(a, b));
            self.nodes[i].children = ch;
        }
        self.full_dirty = false;
        self.order_dirty = true;
        self.version += 1;
    }

    fn flatten(&mut self) {
        self.order.clear();
        let mut stack: Vec<(u32, usize)> = vec![(ROOT, 0)];
        while let Some((n, i)) = stack.pop() {
            let node = &self.nodes[n as usize];
            if i >= node.children.len() {
                continue;
            }
            let c = node.children[i];
            stack.push((n, i + 1));
            let child = &self.nodes[c as usize];
            if child.client != NONE {
                self.order.push(child.client);
            } else {
                stack.push((c, 0));
            }
        }
        self.order_dirty = false;
    }

    /// The order from scratch (every share recomputed, every level fully sorted), for checking
    /// the incremental order in tests.
    pub fn sort_from_scratch(&mut self) -> Vec<u32> {
        self.resort_all();
        self.flatten();
        self.order.clone()
    }

    /// A client's current share (its leaf's).
    pub fn share(&self, client: u32) -> f64 {
        self.leaf(client)
            .map_or(0.0, |n| self.nodes[n as usize].share)
    }
}

impl Sorter for DrfSorter {
    fn add(&mut self, client: u32, name: &str) {
        if self.leaf(client).is_some() {
            return;
        }
        let parent = if self.hierarchical && name != "*" {
            self.path_node(name)
        } else {
            ROOT
        };
        let w = if self.hierarchical {
            self.weight_of(name)
        } else {
            1.0
        };
        let leaf = self.new_node(Arc::from(name), parent, client, w);
        if self.clients.len() <= client as usize {
            self.clients.resize(client as usize + 1, NONE);
        }
        self.clients[client as usize] = leaf;
    }

    fn remove(&mut self, client: u32) {
        let Some(leaf) = self.leaf(client) else {
            return;
        };
        let alloc = self.nodes[leaf as usize].alloc.clone();
        self.deactivate(client);
        if !alloc.is_empty() {
            self.update_path(leaf, &alloc, false);
        }
        self.clients[client as usize] = NONE;
        self.free.push(leaf);
        self.order_dirty = true;
        self.version += 1;
    }

    fn activate(&mut self, client: u32) {
        let Some(leaf) = self.leaf(client) else {
            return;
        };
        if self.nodes[leaf as usize].active {
            return;
        }
        self.nodes[leaf as usize].active = true;
        let share = {
            let n = &self.nodes[leaf as usize];
            self.compute_share(&n.alloc, n.weight)
        };
        self.nodes[leaf as usize].share = share;
        let p = self.nodes[leaf as usize].parent;
        self.insert_sorted(p, leaf);
        self.order_dirty = true;
        self.version += 1;
    }

    fn deactivate(&mut self, client: u32) {
        let Some(leaf) = self.leaf(client) else {
            return;
        };
        if !self.nodes[leaf as usize].active {
            return;
        }
        self.unlink_sorted(leaf);
        self.nodes[leaf as usize].active = false;
        self.order_dirty = true;
        self.version += 1;
    }

    fn set_weight(&mut self, path: &str, weight: f64) {
        self.weights.insert(path.to_string(), weight);
        if let Some(&n) = self.paths.get(path) {
            self.nodes[n as usize].weight = weight;
        }
        for i in 1..self.nodes.len() {
            if self.nodes[i].client != NONE && &*self.nodes[i].name == path && self.hierarchical {
                self.nodes[i].weight = weight;
            }
        }
        self.full_dirty = true;
        self.order_dirty = true;
        self.version += 1;
    }

    fn allocated(&mut self, client: u32, q: &[i64]) {
        if let Some(leaf) = self.leaf(client) {
            self.update_path(leaf, q, true);
        }
    }

    fn unallocated(&mut self, client: u32, q: &[i64]) {
        if let Some(leaf) = self.leaf(client) {
            self.update_path(leaf, q, false);
        }
    }

    fn set_total(&mut self, total: &[i64]) {
        if self.total != total {
            self.total.clear();
            self.total.extend_from_slice(total);
            self.full_dirty = true;
            self.order_dirty = true;
            self.version += 1;
        }
    }

    fn sort(&mut self) -> &[u32] {
        if self.full_dirty {
            self.resort_all();
        }
        if self.order_dirty {
            self.flatten();
        }
        &self.order
    }

    fn next(&mut self, cur: &mut super::Cursor) -> Option<u32> {
        if self.full_dirty {
            self.resort_all();
        }
        if !cur.started || cur.version != self.version {
            cur.stack.clear();
            cur.stack.push((ROOT, 0));
            cur.version = self.version;
            cur.started = true;
        }
        // Depth-first over the sorted children, leaves are clients.
        while let Some(top) = cur.stack.last_mut() {
            let node = &self.nodes[top.0 as usize];
            if top.1 >= node.children.len() {
                cur.stack.pop();
                continue;
            }
            let c = node.children[top.1];
            top.1 += 1;
            let child = &self.nodes[c as usize];
            if child.client != NONE {
                return Some(child.client);
            }
            cur.stack.push((c, 0));
        }
        None
    }

    fn allocation(&self, client: u32) -> &[i64] {
        self.leaf(client)
            .map_or(&[], |n| &self.nodes[n as usize].alloc)
    }

    fn subtree_allocation(&self, path: &str) -> Option<&[i64]> {
        match self.paths.get(path) {
            Some(&n) => Some(&self.nodes[n as usize].alloc),
            None => None,
        }
    }

    fn contains(&self, client: u32) -> bool {
        self.leaf(client).is_some()
    }
}
