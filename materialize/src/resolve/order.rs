//! Install order: dependencies before dependents.
//!
//! A depth-first walk from every chosen package in name order, visiting what each one
//! depends on (its `D:` list, then its `i:` condition) before it. A dependency cycle is
//! cut where the walk meets a package already on its path, so the order is a function of
//! the chosen set alone. On the apk-tools solver tests this gives apk's own order.

use std::collections::BTreeMap;

use crate::resolve::pool::Pool;
use crate::resolve::solver::Picked;
use crate::resolve::{Chosen, Reason, Resolution};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    Open,
    Done,
}

/// Orders `picked` for installation.
pub(crate) fn install_order(pool: &Pool<'_>, picked: &[Picked]) -> Resolution {
    let by_pkg: BTreeMap<usize, usize> =
        picked.iter().enumerate().map(|(i, p)| (p.pkg, i)).collect();
    let edges: Vec<Vec<usize>> = picked.iter().map(|p| successors(pool, &by_pkg, p)).collect();

    let mut roots: Vec<usize> = (0..picked.len()).collect();
    roots.sort_by(|&a, &b| pool.pkgs[picked[a].pkg].name.cmp(&pool.pkgs[picked[b].pkg].name));

    // An install_if package goes in as soon as everything it needs is in, as apk orders
    // it (ssl_client right after libssl in the Alpine minirootfs).
    let triggered: Vec<usize> = roots
        .iter()
        .copied()
        .filter(|&i| matches!(picked[i].reason, Reason::InstallIf { .. }))
        .collect();
    let mut walk =
        Walk { edges: &edges, triggered: &triggered, marks: vec![Mark::New; picked.len()] };
    let mut out = Vec::with_capacity(picked.len());
    for root in roots {
        walk.visit(root, &mut out);
    }

    let packages = out
        .into_iter()
        .map(|i| {
            let p = &picked[i];
            let (repository, entry) =
                pool.copy_for(p.pkg, p.pins.preferred.as_deref(), &p.pins.allowed);
            let pkg = &pool.pkgs[p.pkg];
            Chosen {
                repository,
                entry,
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                reason: p.reason.clone(),
            }
        })
        .collect();
    Resolution { packages }
}

/// The picked packages that meet `p`'s dependencies and install_if condition, in order.
fn successors(pool: &Pool<'_>, by_pkg: &BTreeMap<usize, usize>, p: &Picked) -> Vec<usize> {
    let pkg = &pool.pkgs[p.pkg];
    let deps = pkg.depends.iter().chain(&pkg.install_if).filter(|d| !d.conflict);
    let mut out = Vec::new();
    for dep in deps {
        let Some(providers) = pool.providers.get(&dep.name) else { continue };
        let hit = providers.iter().find_map(|&pr| {
            let at = *by_pkg.get(&pr.pkg)?;
            let meets = match pool.offered(pr) {
                Some(v) => dep.matches(v),
                None => dep.op.is_none(),
            };
            (meets && pr.pkg != p.pkg).then_some(at)
        });
        out.extend(hit);
    }
    out
}

struct Walk<'a> {
    edges: &'a [Vec<usize>],
    triggered: &'a [usize],
    marks: Vec<Mark>,
}

impl Walk<'_> {
    /// Post-order walk without recursion, so deep dependency chains cannot overflow the
    /// stack.
    fn visit(&mut self, root: usize, out: &mut Vec<usize>) {
        if self.marks[root] != Mark::New {
            return;
        }
        let mut stack = vec![(root, 0usize)];
        self.marks[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = self.edges[node].get(*next) {
                *next += 1;
                if self.marks[child] == Mark::New {
                    self.marks[child] = Mark::Open;
                    stack.push((child, 0));
                }
                continue;
            }
            self.marks[node] = Mark::Done;
            out.push(node);
            stack.pop();

            let ready = self.triggered.iter().copied().filter(|&t| {
                self.marks[t] == Mark::New
                    && self.edges[t].iter().all(|&e| self.marks[e] == Mark::Done)
            });
            let ready: Vec<usize> = ready.collect();
            for t in ready.into_iter().rev() {
                self.marks[t] = Mark::Open;
                stack.push((t, 0));
            }
        }
    }
}
