//! Per-cycle quota bookkeeping: for every role with a quota, its guarantees, limits and current
//! consumption (allocations in its subtree plus unallocated reservations there), the total of
//! unmet guarantees (required headroom) and the unreserved pool that must cover it. Every role is
//! mapped once to the quota entries that bind it (its own and its ancestors'), so the cycle never
//! scans all quotas per role or per agent.

use std::collections::HashMap;

use mesos_api::roles;

use crate::types::Quota;

pub(crate) struct QuotaState {
    pub(crate) guarantees: Vec<i64>,
    pub(crate) limits: Vec<Option<i64>>,
    pub(crate) consumed: Vec<i64>,
}

impl QuotaState {
    fn unmet(&self, i: usize) -> i64 {
        (self.guarantees[i] - self.consumed[i]).max(0)
    }
}

pub(crate) struct QuotaPlan {
    pub(crate) states: Vec<QuotaState>,
    index: HashMap<String, usize>,
    /// By role index: the quota entries of the role and its ancestors.
    applicable: Vec<Vec<usize>>,
    /// By role index: the role's own quota entry.
    own: Vec<Option<usize>>,
    /// Sum of unmet guarantees over all quota entries.
    required: Vec<i64>,
    /// Unreserved, unallocated scalars in the cluster.
    pub(crate) headroom: Vec<i64>,
    names: usize,
}

impl QuotaPlan {
    /// `index_of` maps a resource name to its dense index (every quota name is registered);
    /// `role_names` are the roles by index.
    pub(crate) fn new(
        quotas: &HashMap<String, Quota>,
        role_names: &[Option<String>],
        names: usize,
        index_of: impl Fn(&str) -> Option<usize>,
    ) -> QuotaPlan {
        let mut states = Vec::with_capacity(quotas.len());
        let mut index = HashMap::with_capacity(quotas.len());
        let mut keys: Vec<&String> = quotas.keys().collect();
        keys.sort();
        for role in keys {
            let q = &quotas[role];
            let mut guarantees = vec![0; names];
            for (n, v) in q.guarantees.iter() {
                if let Some(i) = index_of(n) {
                    guarantees[i] = v.millis();
                }
            }
            let mut limits = vec![None; names];
            for (n, v) in q.limits.iter() {
                if let Some(i) = index_of(n) {
                    limits[i] = Some(v.millis());
                }
            }
            index.insert(role.clone(), states.len());
            states.push(QuotaState {
                guarantees,
                limits,
                consumed: vec![0; names],
            });
        }
        let mut applicable = Vec::with_capacity(role_names.len());
        let mut own = Vec::with_capacity(role_names.len());
        for name in role_names {
            let mut v = Vec::new();
            let mut mine = None;
            if let Some(name) = name {
                if let Some(&s) = index.get(name.as_str()) {
                    v.push(s);
                    mine = Some(s);
                }
                for a in roles::ancestors(name) {
                    if let Some(&s) = index.get(a) {
                        v.push(s);
                    }
                }
            }
            applicable.push(v);
            own.push(mine);
        }
        QuotaPlan {
            states,
            index,
            applicable,
            own,
            required: vec![0; names],
            headroom: vec![0; names],
            names,
        }
    }

    /// Whether any quota is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Adds a role's allocation to the consumption of the quotas binding it.
    pub(crate) fn add_role_allocation(&mut self, role: usize, q: &[i64]) {
        for &s in self.applicable.get(role).map(Vec::as_slice).unwrap_or(&[]) {
            for (c, v) in self.states[s].consumed.iter_mut().zip(q) {
                *c += v;
            }
        }
    }

    /// Adds an unallocated reservation (for `role`'s path) to the consumption of its quotas.
    pub(crate) fn add_reservation(&mut self, role: &str, q: &[i64]) {
        let hit = |s: usize, states: &mut Vec<QuotaState>| {
            for (c, v) in states[s].consumed.iter_mut().zip(q) {
                *c += v;
            }
        };
        if let Some(&s) = self.index.get(role) {
            hit(s, &mut self.states);
        }
        for a in roles::ancestors(role) {
            if let Some(&s) = self.index.get(a) {
                hit(s, &mut self.states);
            }
        }
    }

    /// Call once consumption and headroom are filled in.
    pub(crate) fn finish(&mut self) {
        self.required = vec![0; self.names];
        for s in &self.states {
            for (i, r) in self.required.iter_mut().enumerate() {
                *r += s.unmet(i);
            }
        }
    }

    /// Writes the role's own unmet guarantee into `out`; false if it has no quota or every
    /// guarantee is met.
    pub(crate) fn unmet_into(&self, role: usize, out: &mut Vec<i64>) -> bool {
        let Some(&Some(s)) = self.own.get(role) else {
            return false;
        };
        let s = &self.states[s];
        out.clear();
        out.extend((0..self.names).map(|i| s.unmet(i)));
        out.iter().any(|&x| x > 0)
    }

    /// Whether any guarantee anywhere is unmet (stage 1 has work).
    pub(crate) fn any_unmet(&self) -> bool {
        self.required.iter().any(|&r| r > 0)
    }

    /// Caps on unreserved scalars for `role`: its and its ancestors' limits, then either its
    /// unmet guarantee (`stage1`) or the headroom left after others' unmet guarantees.
    pub(crate) fn caps(&self, role: usize, stage1: Option<&[i64]>, caps: &mut [Option<i64>]) {
        caps.iter_mut().for_each(|c| *c = None);
        let tighten = |i: usize, room: i64, caps: &mut [Option<i64>]| {
            caps[i] = Some(caps[i].map_or(room, |c| c.min(room)));
        };
        let mine = self.applicable.get(role).map(Vec::as_slice).unwrap_or(&[]);
        for &s in mine {
            let st = &self.states[s];
            for i in 0..self.names {
                if let Some(l) = st.limits[i] {
                    tighten(i, l - st.consumed[i], caps);
                }
            }
        }
        match stage1 {
            Some(u) => {
                for (i, &room) in u.iter().enumerate().take(self.names) {
                    tighten(i, room, caps);
                }
            }
            None => {
                for i in 0..self.names {
                    let own_unmet: i64 = mine.iter().map(|&s| self.states[s].unmet(i)).sum();
                    let others = self.required[i] - own_unmet;
                    if others > 0 {
                        tighten(i, self.headroom[i] - others, caps);
                    }
                }
            }
        }
    }

    /// Records that `role` was allocated unreserved scalars `unres`.
    pub(crate) fn consume(&mut self, role: usize, unres: &[i64]) {
        let mine = self.applicable.get(role).cloned().unwrap_or_default();
        for s in mine {
            for (i, &u) in unres.iter().enumerate().take(self.names) {
                let before = self.states[s].unmet(i);
                self.states[s].consumed[i] += u;
                let after = self.states[s].unmet(i);
                self.required[i] += after - before;
            }
        }
        for (h, u) in self.headroom.iter_mut().zip(unres) {
            *h -= u;
        }
    }
}
