//! Which candidate to try first.

use std::cmp::Ordering;

use super::{Candidate, Pins, Solver};
use crate::apk::dependency::Dependency;
use crate::apk::version;
use crate::resolve::pool::Pool;

impl Solver<'_, '_> {
    /// Candidate order: a package the world names by its own name, which apk selects for
    /// that name and so finds already providing this one; then as apk's `compare_providers`:
    /// in a repository of the preferred pinning, versioned before unversioned, higher
    /// version offered for the name (so a package that `provides` a renamed one at a higher
    /// version wins over the old package, even when the world names the old name), higher
    /// priority; then the real package of the name, earlier repository, then name and id so
    /// the order never depends on where entries sit in a file.
    pub(super) fn rank(
        &self,
        pins: &Pins,
        dep: &Dependency,
        a: &Candidate<'_>,
        b: &Candidate<'_>,
    ) -> Ordering {
        let (pa, pb) = (&self.pool.pkgs[a.pkg], &self.pool.pkgs[b.pkg]);
        let elsewhere = |p: &str| p != dep.name && self.requested.contains(p);
        let preferred = |id: usize| self.pool.preferred(id, pins.preferred.as_deref());
        elsewhere(&pb.name)
            .cmp(&elsewhere(&pa.name))
            .then_with(|| preferred(b.pkg).cmp(&preferred(a.pkg)))
            .then_with(|| cmp_offer(b.offered, a.offered))
            .then_with(|| pb.priority.cmp(&pa.priority))
            .then_with(|| (pb.name == dep.name).cmp(&(pa.name == dep.name)))
            .then_with(|| self.pool.first_repo(a.pkg).cmp(&self.pool.first_repo(b.pkg)))
            .then_with(|| pa.name.cmp(&pb.name))
            .then_with(|| version::compare_lenient(&pb.version, &pa.version))
            .then_with(|| same_version_order(self.pool, a.pkg, b.pkg))
    }

    /// An unversioned name whose providers all lack a priority and none of which the world
    /// names: apk does not choose among them by itself, even when there is only one
    /// (apk-tools tests provides9, provides14, provides16). The requirement waits, and is
    /// met if something else requires one of the providers by its own name; else it is
    /// reported. Alpine 3.16's `/bin/sh` is such a name (busybox alone provides it, without
    /// a priority); its minirootfs world names busybox.
    pub(super) fn ambiguous(&self, candidates: &[Candidate<'_>]) -> bool {
        candidates.iter().all(|c| {
            let p = &self.pool.pkgs[c.pkg];
            c.offered.is_none() && p.priority == 0 && !self.requested.contains(p.name.as_str())
        })
    }
}

/// Orders two packages of one name and version (rebuilds in one repository): by `C:`
/// checksum, then by content, so that the choice never depends on file position.
fn same_version_order(pool: &Pool<'_>, a: usize, b: usize) -> Ordering {
    let (ea, eb) = (pool.entry(a), pool.entry(b));
    ea.checksum
        .cmp(&eb.checksum)
        .then_with(|| ea.depends.cmp(&eb.depends))
        .then_with(|| ea.provides.cmp(&eb.provides))
        .then_with(|| ea.install_if.cmp(&eb.install_if))
        .then_with(|| ea.build_time.cmp(&eb.build_time))
        .then_with(|| a.cmp(&b))
}

/// Orders offered versions: any version above none, then apk's version order.
pub(super) fn cmp_offer(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => version::compare_lenient(a, b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}
