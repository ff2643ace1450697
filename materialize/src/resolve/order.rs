//! Install order: dependencies before dependents.
//!
//! A depth-first walk from the world entries in name order (apk keeps its world sorted),
//! then from every other chosen package in name order, visiting what each one depends on
//! (its `D:` list, conflicts included, then its `i:` condition) before it; a package installed
//! through install_if goes in as soon as what it needs is in. A dependency cycle is cut
//! where the walk meets a package already on its path, so the order is a function of the
//! chosen set alone. On the apk-tools solver tests and the Alpine 3.16 minirootfs this
//! gives apk's own order.

use crate::apk::dependency::Dependency;

use crate::resolve::pool::{Pool, Provider};
use crate::resolve::solver::{Origin, Picked};
use crate::resolve::{Chosen, Resolution};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    Open,
    Done,
}

/// Orders `picked` for installation.
pub(crate) fn install_order(pool: &Pool<'_>, picked: &[Picked<'_>]) -> Resolution {
    let mut by_pkg: Vec<Option<usize>> = vec![None; pool.pkgs.len()];
    for (i, p) in picked.iter().enumerate() {
        by_pkg[p.pkg] = Some(i);
    }
    let edges: Vec<Vec<usize>> = picked.iter().map(|p| successors(pool, &by_pkg, p)).collect();

    // apk keeps its world sorted and walks it in that order, then whatever else is chosen.
    let request = pool.request;
    let mut world: Vec<&Dependency> =
        request.world.iter().chain(&request.locked).filter(|d| !d.conflict).collect();
    world.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.to_string().cmp(&b.to_string())));
    let mut by_name: Vec<usize> = (0..picked.len()).collect();
    by_name.sort_by(|&a, &b| pool.pkgs[picked[a].pkg].name.cmp(&pool.pkgs[picked[b].pkg].name));
    let mut roots: Vec<usize> = world
        .iter()
        .filter_map(|d| provider_of(pool, &by_pkg, pool.providers_of(&d.name), d))
        .collect();
    roots.extend(by_name);

    // An install_if package goes in as soon as everything it needs is in, as apk orders
    // it (ssl_client right after libssl in the Alpine minirootfs).
    let triggered: Vec<usize> = roots
        .iter()
        .copied()
        .filter(|&i| matches!(picked[i].origin, Origin::InstallIf(_)))
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
                reason: p.reason(pool),
            }
        })
        .collect();
    Resolution { packages }
}

/// The picked package (its position in `picked`) among `providers` that meets a positive
/// `dep`, or, for a conflict, that holds the name at all.
fn provider_of(
    pool: &Pool<'_>,
    by_pkg: &[Option<usize>],
    providers: &[Provider],
    dep: &Dependency,
) -> Option<usize> {
    providers.iter().find_map(|&pr| {
        let at = by_pkg[pr.pkg]?;
        let meets = dep.conflict
            || match pool.offered(pr) {
                Some(v) => dep.matches(v),
                None => dep.op.is_none(),
            };
        meets.then_some(at)
    })
}

/// The picked packages `p` must follow: those meeting its dependencies and install_if
/// condition, and those its conflicts name (apk installs a package after the ones it
/// conflicts with, apk-tools test conflict1).
fn successors(pool: &Pool<'_>, by_pkg: &[Option<usize>], p: &Picked<'_>) -> Vec<usize> {
    let pkg = &pool.pkgs[p.pkg];
    let own = by_pkg[p.pkg];
    let depends = pkg.depends.iter().zip(pool.depend_ids(p.pkg)).map(|(dep, &id)| {
        let providers = id.map_or(&[][..], |id| pool.providers[id as usize].as_slice());
        (dep, providers)
    });
    let install_if = pkg.install_if.iter().map(|dep| (dep, pool.providers_of(&dep.name)));
    depends
        .chain(install_if)
        .filter_map(|(dep, providers)| provider_of(pool, by_pkg, providers, dep))
        .filter(|&at| Some(at) != own)
        .collect()
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
