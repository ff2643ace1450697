//! The search: requirements are met one at a time, in the order they appear (the world
//! first, then each chosen package's dependencies), and a choice is undone when something
//! after it cannot be met.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::apk::dependency::Dependency;
use crate::apk::version;
use crate::resolve::error::{Problem, Rejection, ResolveError, Why};
use crate::resolve::pool::Pool;
use crate::resolve::{Reason, Request, Resolution, order};

/// Steps after which the search gives up; real worlds take a few thousand.
const STEP_LIMIT: usize = 500_000;

/// Repository pinning in force for a requirement, as apk-tools' solver tracks it: the
/// tags whose repositories may be used (inherited from the package that pulled it in),
/// and the tag preferred (a world entry's own tag; `None`, untagged, otherwise).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pins {
    pub allowed: BTreeSet<String>,
    pub preferred: Option<String>,
}

/// A requirement waiting to be met.
#[derive(Debug, Clone)]
struct Pending {
    dep: Dependency,
    reason: Reason,
    /// The package whose `D:` holds it; `None` for the world.
    owner: Option<usize>,
    pins: Pins,
}

/// One chosen package, with why and under which pinning it was taken.
#[derive(Debug, Clone)]
pub(crate) struct Picked {
    pub pkg: usize,
    pub reason: Reason,
    pub pins: Pins,
}

/// A partial solution. Cloned at every choice point, so that undoing a choice is dropping
/// the clone.
#[derive(Debug, Clone, Default)]
struct State {
    picked: Vec<Picked>,
    /// Package name to position in `picked`.
    by_name: BTreeMap<String, usize>,
    /// Versioned name (own or provided) to the package holding it.
    versioned: BTreeMap<String, usize>,
    conflicts: Vec<Pending>,
    queue: VecDeque<Pending>,
    /// Unversioned virtual names without a preferred provider: met later by something
    /// else, or reported.
    deferred: Vec<Pending>,
    /// install_if packages that could not be added.
    declined: BTreeSet<usize>,
}

enum Stop {
    Fail,
    Limit,
}

struct Candidate<'p> {
    pkg: usize,
    offered: Option<&'p str>,
}

struct Solver<'p, 'r> {
    pool: &'p Pool<'r>,
    requested: BTreeSet<&'r str>,
    steps: usize,
    failure: Option<Problem>,
}

/// Resolves `request`, never choosing a `(name, version)` listed in `exclude`.
///
/// install_if packages are first added where they fit the solution as found; one whose
/// condition holds but that conflicts with an earlier choice is then required outright
/// and the search run again, so that earlier choices can make room for it (apk-tools test
/// installif10). If that fails it is left out.
pub(crate) fn solve(
    request: &Request,
    exclude: &BTreeSet<(String, String)>,
) -> Result<Resolution, ResolveError> {
    let pool = Pool::new(request, exclude);
    let requested: BTreeSet<&str> =
        request.world.iter().filter(|d| !d.conflict).map(|d| d.name.as_str()).collect();

    let mut forced: Vec<(usize, Pins)> = Vec::new();
    let mut given_up: BTreeSet<usize> = BTreeSet::new();
    loop {
        let mut solver =
            Solver { pool: &pool, requested: requested.clone(), steps: 0, failure: None };
        let outcome = solver.search(solver.initial(request, &forced));
        let all_forced =
            |state: &State| forced.iter().all(|(pkg, _)| solver.is_picked(state, *pkg));
        match outcome {
            Ok(state) if all_forced(&state) => {
                let skip: BTreeSet<usize> =
                    given_up.iter().copied().chain(forced.iter().map(|(p, _)| *p)).collect();
                match solver.declined_install_if(&state, &skip) {
                    Some(next) => forced.push(next),
                    None => {
                        tracing::debug!(packages = state.picked.len(), "resolved");
                        return Ok(order::install_order(&pool, &state.picked));
                    }
                }
            }
            Err(Stop::Limit) => return Err(ResolveError::SearchLimit { steps: solver.steps }),
            _ if !forced.is_empty() => {
                // Requiring it failed: leave it out and rebuild the previous solution.
                if let Some((pkg, _)) = forced.pop() {
                    given_up.insert(pkg);
                }
            }
            _ => {
                let problem = solver.failure.unwrap_or_else(|| Problem::Rejected {
                    dependency: Dependency::any("world"),
                    required_by: Vec::new(),
                    candidates: Vec::new(),
                });
                return Err(ResolveError::Unsatisfiable { problem: Box::new(problem) });
            }
        }
    }
}

impl<'p, 'r> Solver<'p, 'r> {
    /// The starting state: the world, then any install_if packages required outright.
    fn initial(&self, request: &Request, forced: &[(usize, Pins)]) -> State {
        let mut state = State::default();
        for dep in &request.world {
            let reason = Reason::World { dependency: dep.clone() };
            let pins =
                Pins { allowed: dep.tag.iter().cloned().collect(), preferred: dep.tag.clone() };
            state.queue.push_back(Pending { dep: dep.clone(), reason, owner: None, pins });
        }
        for (pkg, pins) in forced {
            let p = &self.pool.pkgs[*pkg];
            let dep = Dependency {
                op: Some(crate::apk::dependency::Op::Equal),
                version: Some(p.version.clone()),
                ..Dependency::any(&p.name)
            };
            let reason = Reason::InstallIf { condition: p.install_if.clone() };
            state.queue.push_back(Pending { dep, reason, owner: None, pins: pins.clone() });
        }
        state
    }

    fn search(&mut self, mut state: State) -> Result<State, Stop> {
        loop {
            self.steps += 1;
            if self.steps > STEP_LIMIT {
                return Err(Stop::Limit);
            }

            if let Some(pending) = state.queue.pop_front() {
                if pending.dep.conflict {
                    self.add_conflict(&mut state, pending)?;
                    continue;
                }
                if self.satisfied(&state, &pending.dep) {
                    continue;
                }
                let mut candidates = self.candidates(&state, &pending)?;
                if self.ambiguous(&candidates) {
                    state.deferred.push(pending);
                    continue;
                }
                if candidates.len() == 1 {
                    let only = candidates.remove(0);
                    self.pick(&mut state, only.pkg, &pending);
                    continue;
                }
                return self.branch(state, &pending, &candidates);
            }

            if !state.deferred.is_empty() {
                for pending in std::mem::take(&mut state.deferred) {
                    if !self.satisfied(&state, &pending.dep) {
                        let problem = self.virtual_problem(&state, &pending);
                        return Err(self.fail(problem));
                    }
                }
                continue;
            }

            let skip = state.declined.clone();
            let Some((pkg, pins)) = self.next_install_if(&state, &skip) else {
                return Ok(state);
            };
            let saved = self.failure.clone();
            let mut with = state.clone();
            let condition = self.pool.pkgs[pkg].install_if.clone();
            let pending = Pending {
                dep: Dependency::any(&self.pool.pkgs[pkg].name),
                reason: Reason::InstallIf { condition },
                owner: None,
                pins,
            };
            if self.check(&with, pkg).is_ok() {
                self.pick(&mut with, pkg, &pending);
                match self.search(with) {
                    Ok(done) => return Ok(done),
                    Err(Stop::Limit) => return Err(Stop::Limit),
                    Err(Stop::Fail) => {}
                }
            }
            // install_if is a suggestion: without it the rest may still hold.
            self.failure = saved;
            state.declined.insert(pkg);
        }
    }

    fn branch(
        &mut self,
        state: State,
        pending: &Pending,
        candidates: &[Candidate<'_>],
    ) -> Result<State, Stop> {
        for c in candidates {
            let mut next = state.clone();
            self.pick(&mut next, c.pkg, pending);
            match self.search(next) {
                Ok(done) => return Ok(done),
                Err(Stop::Limit) => return Err(Stop::Limit),
                Err(Stop::Fail) => {
                    tracing::trace!(package = %self.pool.pkgs[c.pkg].label(), "backtrack");
                }
            }
        }
        Err(Stop::Fail)
    }

    fn fail(&mut self, problem: Problem) -> Stop {
        if self.failure.is_none() {
            tracing::debug!(%problem, "dead end");
            self.failure = Some(problem);
        }
        Stop::Fail
    }

    /// Who needed `reason`'s package, nearest first, back to the world.
    fn chain(&self, state: &State, reason: &Reason) -> Vec<String> {
        let mut out = Vec::new();
        let mut reason = reason.clone();
        let mut seen = BTreeSet::new();
        loop {
            match &reason {
                Reason::World { .. } | Reason::InstallIf { .. } => {
                    out.push(reason.to_string());
                    return out;
                }
                Reason::Dependency { parent, dependency } => {
                    let Some(&at) = state.by_name.get(parent) else {
                        out.push(reason.to_string());
                        return out;
                    };
                    let picked = &state.picked[at];
                    out.push(format!("{}[{dependency}]", self.pool.pkgs[picked.pkg].label()));
                    if !seen.insert(at) {
                        return out;
                    }
                    reason = picked.reason.clone();
                }
            }
        }
    }

    fn is_picked(&self, state: &State, pkg: usize) -> bool {
        let name = &self.pool.pkgs[pkg].name;
        state.by_name.get(name).is_some_and(|&at| state.picked[at].pkg == pkg)
    }

    /// Whether `offered` (a provider's version, `None` if unversioned) meets a positive `dep`.
    fn offer_meets(offered: Option<&str>, dep: &Dependency) -> bool {
        match offered {
            Some(v) => dep.matches(v),
            None => dep.op.is_none(),
        }
    }

    /// Whether `offered` falls within what a conflict `dep` forbids.
    fn offer_forbidden(offered: Option<&str>, dep: &Dependency) -> bool {
        match offered {
            Some(v) => !dep.matches(v),
            None => dep.op.is_none(),
        }
    }

    fn satisfied(&self, state: &State, dep: &Dependency) -> bool {
        let Some(providers) = self.pool.providers.get(&dep.name) else { return false };
        providers
            .iter()
            .any(|&p| self.is_picked(state, p.pkg) && Self::offer_meets(self.pool.offered(p), dep))
    }

    /// A picked package (other than `owner`) that the conflict `dep` forbids.
    fn violator(&self, state: &State, dep: &Dependency, owner: Option<usize>) -> Option<usize> {
        let providers = self.pool.providers.get(&dep.name)?;
        providers.iter().find_map(|&p| {
            let hit = Some(p.pkg) != owner
                && self.is_picked(state, p.pkg)
                && Self::offer_forbidden(self.pool.offered(p), dep);
            hit.then_some(p.pkg)
        })
    }

    fn add_conflict(&mut self, state: &mut State, pending: Pending) -> Result<(), Stop> {
        if let Some(pkg) = self.violator(state, &pending.dep, pending.owner) {
            let problem = Problem::Breaks {
                dependency: pending.dep.clone(),
                required_by: self.chain(state, &pending.reason),
                installed: self.pool.pkgs[pkg].label(),
            };
            return Err(self.fail(problem));
        }
        state.conflicts.push(pending);
        Ok(())
    }

    /// Whether `pkg` can join `state`.
    fn check(&self, state: &State, pkg: usize) -> Result<(), Why> {
        let p = &self.pool.pkgs[pkg];
        if let Some(detail) = &p.unusable {
            return Err(Why::Unusable { detail: detail.clone() });
        }
        if let Some(&at) = state.by_name.get(&p.name) {
            let other = state.picked[at].pkg;
            if other != pkg {
                let with = self.pool.pkgs[other].label();
                return Err(Why::Conflicts { with, name: p.name.clone() });
            }
            return Ok(());
        }

        let mut seen = BTreeSet::new();
        for name in p.versioned_names() {
            // Two versioned providers of one name exclude each other, even within one
            // package (apk-tools test provides7).
            let taken = state.versioned.get(name).filter(|&&other| other != pkg);
            if let Some(&other) = taken {
                let with = self.pool.pkgs[other].label();
                return Err(Why::Conflicts { with, name: name.to_string() });
            }
            if !seen.insert(name) {
                return Err(Why::Conflicts { with: p.label(), name: name.to_string() });
            }
        }

        for c in &state.conflicts {
            if c.owner == Some(pkg) {
                continue;
            }
            if p.offers(&c.dep.name).any(|v| Self::offer_forbidden(v, &c.dep)) {
                let by = match c.owner {
                    Some(o) => self.pool.pkgs[o].label(),
                    None => "world".to_string(),
                };
                return Err(Why::Breaks { by, dependency: c.dep.clone() });
            }
        }
        for d in p.depends.iter().filter(|d| d.conflict) {
            if self.violator(state, d, Some(pkg)).is_some() {
                return Err(Why::Breaks { by: p.label(), dependency: d.clone() });
            }
        }
        Ok(())
    }

    fn pick(&self, state: &mut State, pkg: usize, pending: &Pending) {
        if self.is_picked(state, pkg) {
            return;
        }
        let p = &self.pool.pkgs[pkg];
        state.by_name.insert(p.name.clone(), state.picked.len());
        state.picked.push(Picked {
            pkg,
            reason: pending.reason.clone(),
            pins: pending.pins.clone(),
        });
        for name in p.versioned_names() {
            state.versioned.insert(name.to_string(), pkg);
        }
        for dep in &p.depends {
            let reason = Reason::Dependency { parent: p.name.clone(), dependency: dep.clone() };
            // Dependencies may come from the repositories their parent's pinning allows,
            // but prefer untagged ones (apk-tools tests pinning2, pinning4).
            let mut pins = Pins { allowed: pending.pins.allowed.clone(), preferred: None };
            if let Some(tag) = &dep.tag {
                pins.allowed.insert(tag.clone());
                pins.preferred = Some(tag.clone());
            }
            state.queue.push_back(Pending { dep: dep.clone(), reason, owner: Some(pkg), pins });
        }
    }

    /// Candidates for `pending`, best first; a dead end when there are none.
    fn candidates(&mut self, state: &State, pending: &Pending) -> Result<Vec<Candidate<'p>>, Stop> {
        let dep = &pending.dep;
        let pool = self.pool;
        let providers = pool.providers.get(&dep.name).map(Vec::as_slice).unwrap_or_default();
        if providers.is_empty() {
            let problem = Problem::NoSuchPackage {
                dependency: dep.clone(),
                required_by: self.chain(state, &pending.reason),
            };
            return Err(self.fail(problem));
        }

        let mut best: BTreeMap<usize, Option<&'p str>> = BTreeMap::new();
        let mut rejected: BTreeMap<usize, Why> = BTreeMap::new();
        for &p in providers {
            let offered = pool.offered(p);
            let verdict = if !Self::offer_meets(offered, dep) {
                Err(Why::Version)
            } else if !pool.eligible(p.pkg, &pending.pins.allowed) {
                Err(Why::Masked { tags: pool.tags(p.pkg) })
            } else {
                self.check(state, p.pkg)
            };
            match verdict {
                Ok(()) => {
                    let slot = best.entry(p.pkg).or_insert(offered);
                    if cmp_offer(offered, *slot) == Ordering::Greater {
                        *slot = offered;
                    }
                    rejected.remove(&p.pkg);
                }
                Err(why) if !best.contains_key(&p.pkg) => {
                    rejected.insert(p.pkg, why);
                }
                Err(_) => {}
            }
        }

        let mut list: Vec<Candidate<'p>> =
            best.into_iter().map(|(pkg, offered)| Candidate { pkg, offered }).collect();
        list.sort_by(|a, b| self.rank(&pending.pins, dep, a, b));
        if list.is_empty() {
            let candidates = rejected
                .into_iter()
                .map(|(pkg, why)| Rejection { package: pool.pkgs[pkg].label(), why })
                .collect();
            let problem = Problem::Rejected {
                dependency: dep.clone(),
                required_by: self.chain(state, &pending.reason),
                candidates,
            };
            return Err(self.fail(problem));
        }
        Ok(list)
    }

    /// Candidate order: named in the world, in a repository of the preferred pinning,
    /// versioned before unversioned, higher version, higher priority, the real package of
    /// the name, earlier repository, then name and id so the order never depends on where
    /// entries sit in a file.
    fn rank(
        &self,
        pins: &Pins,
        dep: &Dependency,
        a: &Candidate<'_>,
        b: &Candidate<'_>,
    ) -> Ordering {
        let (pa, pb) = (&self.pool.pkgs[a.pkg], &self.pool.pkgs[b.pkg]);
        let requested = |p: &str| self.requested.contains(p);
        let preferred = |id: usize| self.pool.preferred(id, pins.preferred.as_deref());
        requested(&pb.name)
            .cmp(&requested(&pa.name))
            .then_with(|| preferred(b.pkg).cmp(&preferred(a.pkg)))
            .then_with(|| cmp_offer(b.offered, a.offered))
            .then_with(|| pb.priority.cmp(&pa.priority))
            .then_with(|| (pb.name == dep.name).cmp(&(pa.name == dep.name)))
            .then_with(|| self.pool.first_repo(a.pkg).cmp(&self.pool.first_repo(b.pkg)))
            .then_with(|| pa.name.cmp(&pb.name))
            .then_with(|| version::compare_lenient(&pb.version, &pa.version))
            .then_with(|| same_version_order(self.pool, a.pkg, b.pkg))
    }

    /// An unversioned name with several providing packages, none with a priority and none
    /// named by the world: the user must choose (apk-tools tests provides9, provides16).
    ///
    /// A single such provider is taken. apk refuses that too (provides14), but Alpine 3.16
    /// packages depend on `/bin/sh`, which only busybox provides, without a priority; an
    /// apko blueprint that does not list busybox must still resolve.
    fn ambiguous(&self, candidates: &[Candidate<'_>]) -> bool {
        let unranked = candidates.iter().all(|c| {
            let p = &self.pool.pkgs[c.pkg];
            c.offered.is_none() && p.priority == 0 && !self.requested.contains(p.name.as_str())
        });
        let names: BTreeSet<&str> =
            candidates.iter().map(|c| self.pool.pkgs[c.pkg].name.as_str()).collect();
        unranked && names.len() > 1
    }

    fn virtual_problem(&self, state: &State, pending: &Pending) -> Problem {
        let mut providers: Vec<String> = self
            .pool
            .providers
            .get(&pending.dep.name)
            .into_iter()
            .flatten()
            .map(|p| self.pool.pkgs[p.pkg].name.clone())
            .collect();
        providers.sort();
        providers.dedup();
        Problem::Virtual {
            dependency: pending.dep.clone(),
            providers,
            required_by: self.chain(state, &pending.reason),
        }
    }

    /// The next install_if package, not in `skip`, whose condition holds: by name, highest
    /// version first, with the pinning it inherits from the packages that trigger it.
    fn next_install_if(&self, state: &State, skip: &BTreeSet<usize>) -> Option<(usize, Pins)> {
        let mut best: Option<(usize, Pins)> = None;
        for &id in &self.pool.install_if {
            let p = &self.pool.pkgs[id];
            if let Some((b, _)) = &best {
                if self.pool.pkgs[*b].name != p.name {
                    break;
                }
            }
            if state.by_name.contains_key(&p.name) || skip.contains(&id) || p.unusable.is_some() {
                continue;
            }
            let Some(pins) = self.install_if_holds(state, id) else { continue };
            if !self.pool.eligible(id, &pins.allowed) {
                continue;
            }
            let better = best.as_ref().is_none_or(|(b, _)| {
                version::compare_lenient(&p.version, &self.pool.pkgs[*b].version)
                    == Ordering::Greater
            });
            if better {
                best = Some((id, pins));
            }
        }
        best
    }

    /// A package the search declined although its install_if condition holds in `state`.
    fn declined_install_if(&self, state: &State, skip: &BTreeSet<usize>) -> Option<(usize, Pins)> {
        state.declined.iter().copied().filter(|id| !skip.contains(id)).find_map(|id| {
            let p = &self.pool.pkgs[id];
            if state.by_name.contains_key(&p.name) {
                return None;
            }
            let pins = self.install_if_holds(state, id)?;
            self.pool.eligible(id, &pins.allowed).then_some((id, pins))
        })
    }

    /// When `id`'s install_if condition holds, the pinning it inherits: every tag the
    /// triggering packages were allowed (apk-tools test pinning12).
    fn install_if_holds(&self, state: &State, id: usize) -> Option<Pins> {
        let mut pins = Pins::default();
        for d in &self.pool.pkgs[id].install_if {
            if d.conflict {
                if self.violator(state, d, None).is_some() {
                    return None;
                }
                continue;
            }
            let providers = self.pool.providers.get(&d.name)?;
            let trigger = providers.iter().find(|&&p| {
                self.is_picked(state, p.pkg) && Self::offer_meets(self.pool.offered(p), d)
            })?;
            let at = *state.by_name.get(&self.pool.pkgs[trigger.pkg].name)?;
            pins.allowed.extend(state.picked[at].pins.allowed.iter().cloned());
        }
        Some(pins)
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
fn cmp_offer(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => version::compare_lenient(a, b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}
