//! The search: requirements are met one at a time, in the order they appear (the world
//! first, then each chosen package's dependencies), and a choice is undone when something
//! after it cannot be met. A dead end carries the choices it depends on, so undoing skips
//! back over choices that play no part in it (conflict-directed backjumping).

mod install_if;
mod rank;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::apk::dependency::Dependency;
use crate::resolve::error::{Problem, Rejection, ResolveError, Why};
use crate::resolve::pool::{Pkg, Pool};
use crate::resolve::{Reason, Request, Resolution, order};
use rank::cmp_offer;

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

/// Where a requirement comes from. The [`Reason`] shown to users is made from it only where
/// one is shown, so that the search itself never copies names or dependencies.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// A world entry.
    World,
    /// A lock's pin.
    Locked,
    /// A `D:` entry of this package.
    Dependency(usize),
    /// This package's install_if condition.
    InstallIf(usize),
}

impl Origin {
    /// The package whose `D:` holds the requirement; `None` for the world and install_if.
    fn owner(self) -> Option<usize> {
        match self {
            Origin::Dependency(pkg) => Some(pkg),
            Origin::World | Origin::Locked | Origin::InstallIf(_) => None,
        }
    }

    /// The user-facing reason for a requirement `dep` of this origin.
    pub fn reason(self, pool: &Pool<'_>, dep: &Dependency) -> Reason {
        match self {
            Origin::World => Reason::World { dependency: dep.clone() },
            Origin::Locked => Reason::Locked { dependency: dep.clone() },
            Origin::Dependency(parent) => Reason::Dependency {
                parent: pool.pkgs[parent].name.clone(),
                dependency: dep.clone(),
            },
            Origin::InstallIf(pkg) => {
                Reason::InstallIf { condition: pool.pkgs[pkg].install_if.clone() }
            }
        }
    }
}

/// A requirement waiting to be met. Cheap to clone: the dependency is borrowed from the
/// pool or the request, and the pinning is shared.
#[derive(Debug, Clone)]
struct Pending<'p> {
    dep: &'p Dependency,
    /// `dep.name`'s index in the pool; `None` when nothing holds it.
    name: Option<u32>,
    origin: Origin,
    pins: Rc<Pins>,
}

/// One chosen package, with why and under which pinning it was taken.
#[derive(Debug, Clone)]
pub(crate) struct Picked<'p> {
    pub pkg: usize,
    pub origin: Origin,
    /// The requirement it meets.
    pub dep: &'p Dependency,
    pub pins: Rc<Pins>,
    /// Chosen among alternatives that remain to be tried.
    decision: bool,
    /// The packages that made it the only choice: the one whose dependency it meets and
    /// those that excluded the other candidates.
    because: Rc<[usize]>,
}

impl Picked<'_> {
    /// Why it is in the resolution.
    pub fn reason(&self, pool: &Pool<'_>) -> Reason {
        self.origin.reason(pool, self.dep)
    }
}

/// A partial solution. Cloned at every choice point, so that undoing a choice is dropping
/// the clone; everything in it is shared or borrowed, so a clone copies no names.
///
/// The queue of requirements is not in it: it is `Solver::log[head..]`. A branch only appends
/// to the log, so undoing a choice truncates the log back to where the choice was made.
#[derive(Debug, Clone, Default)]
struct State<'p> {
    picked: Vec<Picked<'p>>,
    /// Package name (by its index in the pool) to position in `picked`.
    by_name: BTreeMap<u32, usize>,
    /// Versioned name (own or provided, by index) to the package holding it.
    versioned: BTreeMap<u32, usize>,
    conflicts: Vec<Pending<'p>>,
    /// Where this state's queue starts in `Solver::log`.
    head: usize,
    /// Unversioned virtual names without a preferred provider: met later by something
    /// else, or reported.
    deferred: Vec<Pending<'p>>,
    /// install_if packages that could not be added.
    declined: BTreeSet<usize>,
    /// Set once install_if has added or declined a package: from then on a dead end is not
    /// traced to particular choices.
    blame_unknown: bool,
}

/// The decisions a dead end depends on; `None` when it cannot be told.
///
/// With it the search jumps back over choices a failure does not depend on
/// (conflict-directed backjumping), instead of retrying every combination of unrelated
/// choices before reporting a missing package.
type Blame = Option<BTreeSet<usize>>;

enum Stop {
    Fail(Blame),
    Limit,
}

struct Candidate<'p> {
    pkg: usize,
    offered: Option<&'p str>,
}

struct Solver<'p, 'r: 'p> {
    pool: &'p Pool<'r>,
    /// Every requirement queued on the current path, in order (see [`State::head`]).
    log: Vec<Pending<'p>>,
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
    let requested: BTreeSet<&str> = request
        .world
        .iter()
        .chain(&request.locked)
        .filter(|d| !d.conflict)
        .map(|d| d.name.as_str())
        .collect();

    let mut forced: Vec<(usize, Rc<Pins>)> = Vec::new();
    let mut given_up: BTreeSet<usize> = BTreeSet::new();
    loop {
        let mut solver = Solver {
            pool: &pool,
            log: Vec::new(),
            requested: requested.clone(),
            steps: 0,
            failure: None,
        };
        let start = solver.initial(request, &forced);
        let outcome = solver.search(start);
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
            Ok(_) | Err(Stop::Fail(_)) if !forced.is_empty() => {
                // Requiring it failed: leave it out and rebuild the previous solution.
                if let Some((pkg, _)) = forced.pop() {
                    given_up.insert(pkg);
                }
            }
            Ok(_) | Err(Stop::Fail(_)) => {
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

impl<'p, 'r: 'p> Solver<'p, 'r> {
    /// The starting state: the world, then any install_if packages required outright.
    fn initial(&mut self, request: &'p Request, forced: &[(usize, Rc<Pins>)]) -> State<'p> {
        let world = request.world.iter().map(|dep| (dep, Origin::World));
        for (dep, origin) in world.chain(request.locked.iter().map(|dep| (dep, Origin::Locked))) {
            let pins =
                Pins { allowed: dep.tag.iter().cloned().collect(), preferred: dep.tag.clone() };
            self.push(dep, origin, Rc::new(pins));
        }
        for (pkg, pins) in forced {
            self.push(self.pool.exact_dep(*pkg), Origin::InstallIf(*pkg), pins.clone());
        }
        State::default()
    }

    /// Queues `dep` on the current path.
    fn push(&mut self, dep: &'p Dependency, origin: Origin, pins: Rc<Pins>) {
        let name = self.pool.name_id(&dep.name);
        self.log.push(Pending { dep, name, origin, pins });
    }

    fn search(&mut self, mut state: State<'p>) -> Result<State<'p>, Stop> {
        loop {
            self.steps += 1;
            if self.steps > STEP_LIMIT {
                return Err(Stop::Limit);
            }

            if let Some(pending) = self.log.get(state.head).cloned() {
                state.head += 1;
                if pending.dep.conflict {
                    self.add_conflict(&mut state, pending)?;
                    continue;
                }
                if self.satisfied(&state, &pending) {
                    continue;
                }
                let (mut candidates, because) = self.candidates(&state, &pending)?;
                if self.ambiguous(&candidates) {
                    state.deferred.push(pending);
                    continue;
                }
                if candidates.len() == 1 {
                    let only = candidates.remove(0);
                    self.pick(&mut state, only.pkg, &pending, false, because);
                    continue;
                }
                return self.branch(state, &pending, &candidates, because);
            }

            if !state.deferred.is_empty() {
                for pending in std::mem::take(&mut state.deferred) {
                    if !self.satisfied(&state, &pending) {
                        let problem = self.virtual_problem(&state, &pending);
                        return Err(self.fail(problem, None));
                    }
                }
                continue;
            }

            let skip = state.declined.clone();
            let Some((pkg, pins)) = self.next_install_if(&state, &skip) else {
                return Ok(state);
            };
            let saved = self.failure.clone();
            state.blame_unknown = true;
            let mut with = state.clone();
            let dep = self.pool.any_dep(pkg);
            let name = Some(self.pool.pkgs[pkg].name_id);
            let pending = Pending { dep, name, origin: Origin::InstallIf(pkg), pins };
            if self.check(&with, pkg).is_ok() {
                let end = self.log.len();
                self.pick(&mut with, pkg, &pending, true, Vec::new());
                match self.search(with) {
                    Ok(done) => return Ok(done),
                    Err(Stop::Limit) => return Err(Stop::Limit),
                    Err(Stop::Fail(_)) => self.log.truncate(end),
                }
            }
            // install_if is a suggestion: without it the rest may still hold.
            self.failure = saved;
            state.declined.insert(pkg);
        }
    }

    /// Tries each candidate in turn. A dead end that does not depend on the candidate
    /// tried is returned at once: the others would meet it too.
    fn branch(
        &mut self,
        state: State<'p>,
        pending: &Pending<'p>,
        candidates: &[Candidate<'_>],
        because: Vec<usize>,
    ) -> Result<State<'p>, Stop> {
        let mut blame = Some(BTreeSet::new());
        let end = self.log.len();
        for c in candidates {
            let mut next = state.clone();
            self.pick(&mut next, c.pkg, pending, true, because.clone());
            let outcome = self.search(next);
            if outcome.is_err() {
                // Forget what the dead end queued: the log ends where `state`'s queue does.
                self.log.truncate(end);
            }
            match outcome {
                Ok(done) => return Ok(done),
                Err(Stop::Limit) => return Err(Stop::Limit),
                Err(Stop::Fail(Some(set))) if !set.contains(&c.pkg) => {
                    return Err(Stop::Fail(Some(set)));
                }
                Err(Stop::Fail(found)) => {
                    tracing::trace!(package = %self.pool.pkgs[c.pkg].label(), "backtrack");
                    blame = blame.zip(found).map(|(mut all, mut set)| {
                        set.remove(&c.pkg);
                        all.extend(set);
                        all
                    });
                }
            }
        }
        let own = self.blame(&state, because.into_iter().chain(pending.origin.owner()));
        Err(Stop::Fail(blame.zip(own).map(|(mut all, own)| {
            all.extend(own);
            all
        })))
    }

    fn fail(&mut self, problem: Problem, blame: Blame) -> Stop {
        if self.failure.is_none() {
            tracing::debug!(%problem, "dead end");
            self.failure = Some(problem);
        }
        Stop::Fail(blame)
    }

    /// The decisions behind `packages`: each package chosen without alternatives is
    /// replaced by what made it the only choice.
    fn blame(&self, state: &State<'p>, packages: impl IntoIterator<Item = usize>) -> Blame {
        if state.blame_unknown {
            return None;
        }
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut work: Vec<usize> = packages.into_iter().collect();
        while let Some(pkg) = work.pop() {
            if !seen.insert(pkg) {
                continue;
            }
            let &at = state.by_name.get(&self.pool.pkgs[pkg].name_id)?;
            let picked = &state.picked[at];
            if picked.pkg != pkg || matches!(picked.origin, Origin::InstallIf(_)) {
                return None;
            }
            if picked.decision {
                out.insert(pkg);
            } else {
                work.extend(picked.because.iter().copied());
            }
        }
        Some(out)
    }

    /// Who needed `pending`'s package, nearest first, back to the world.
    fn chain(&self, state: &State<'p>, pending: &Pending<'p>) -> Vec<String> {
        let mut out = Vec::new();
        let (mut origin, mut dep) = (pending.origin, pending.dep);
        let mut seen = BTreeSet::new();
        loop {
            let Origin::Dependency(parent) = origin else {
                out.push(origin.reason(self.pool, dep).to_string());
                return out;
            };
            let Some(&at) = state.by_name.get(&self.pool.pkgs[parent].name_id) else {
                out.push(origin.reason(self.pool, dep).to_string());
                return out;
            };
            let picked = &state.picked[at];
            out.push(format!("{}[{dep}]", self.pool.pkgs[picked.pkg].label()));
            if !seen.insert(at) {
                return out;
            }
            (origin, dep) = (picked.origin, picked.dep);
        }
    }

    fn is_picked(&self, state: &State<'p>, pkg: usize) -> bool {
        let name = self.pool.pkgs[pkg].name_id;
        state.by_name.get(&name).is_some_and(|&at| state.picked[at].pkg == pkg)
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

    fn satisfied(&self, state: &State<'p>, pending: &Pending<'p>) -> bool {
        let Some(name) = pending.name else { return false };
        self.pool.providers[name as usize].iter().any(|&p| {
            self.is_picked(state, p.pkg) && Self::offer_meets(self.pool.offered(p), pending.dep)
        })
    }

    /// A picked package (other than `owner`) that the conflict `dep` forbids.
    fn violator(&self, state: &State<'p>, dep: &Dependency, owner: Option<usize>) -> Option<usize> {
        self.pool.providers_of(&dep.name).iter().find_map(|&p| {
            let hit = Some(p.pkg) != owner
                && self.is_picked(state, p.pkg)
                && Self::offer_forbidden(self.pool.offered(p), dep);
            hit.then_some(p.pkg)
        })
    }

    fn add_conflict(&mut self, state: &mut State<'p>, pending: Pending<'p>) -> Result<(), Stop> {
        let owner = pending.origin.owner();
        if let Some(pkg) = self.violator(state, pending.dep, owner) {
            let problem = Problem::Breaks {
                dependency: pending.dep.clone(),
                required_by: self.chain(state, &pending),
                installed: self.pool.pkgs[pkg].label(),
            };
            let blame = self.blame(state, owner.into_iter().chain([pkg]));
            return Err(self.fail(problem, blame));
        }
        state.conflicts.push(pending);
        Ok(())
    }

    /// Whether `pkg` can join `state`; if not, why, and which chosen package is in the way.
    fn check(&self, state: &State<'p>, pkg: usize) -> Result<(), (Why, Option<usize>)> {
        let p = &self.pool.pkgs[pkg];
        if let Some(detail) = &p.unusable {
            return Err((Why::Unusable { detail: detail.clone() }, None));
        }
        if let Some(&at) = state.by_name.get(&p.name_id) {
            let other = state.picked[at].pkg;
            if other != pkg {
                let with = self.pool.pkgs[other].label();
                return Err((Why::Conflicts { with, name: p.name.clone() }, Some(other)));
            }
            return Ok(());
        }

        // A package may not provide its own name, with or without a version: apk assigns the
        // name twice and reports the package as conflicting with itself (apk-tools 2.14 test
        // provides12).
        if p.provides.iter().any(|pr| pr.name == p.name) {
            return Err((Why::Conflicts { with: p.label(), name: p.name.clone() }, None));
        }
        let mut seen = BTreeSet::new();
        for (id, name) in p.versioned_names() {
            // Two versioned providers of one name exclude each other, even within one
            // package (apk-tools test provides7).
            let taken = state.versioned.get(&id).filter(|&&other| other != pkg);
            if let Some(&other) = taken {
                let with = self.pool.pkgs[other].label();
                return Err((Why::Conflicts { with, name: name.to_string() }, Some(other)));
            }
            if !seen.insert(id) {
                return Err((Why::Conflicts { with: p.label(), name: name.to_string() }, None));
            }
        }

        for c in &state.conflicts {
            let owner = c.origin.owner();
            if owner == Some(pkg) {
                continue;
            }
            if p.offers(&c.dep.name).any(|v| Self::offer_forbidden(v, c.dep)) {
                let by = match owner {
                    Some(o) => self.pool.pkgs[o].label(),
                    None => "world".to_string(),
                };
                return Err((Why::Breaks { by, dependency: c.dep.clone() }, owner));
            }
        }
        for d in p.depends.iter().filter(|d| d.conflict) {
            if let Some(v) = self.violator(state, d, Some(pkg)) {
                return Err((Why::Breaks { by: p.label(), dependency: d.clone() }, Some(v)));
            }
        }
        Ok(())
    }

    fn pick(
        &mut self,
        state: &mut State<'p>,
        pkg: usize,
        pending: &Pending<'p>,
        decision: bool,
        mut because: Vec<usize>,
    ) {
        if self.is_picked(state, pkg) {
            return;
        }
        let pool = self.pool;
        let p: &'p Pkg = &pool.pkgs[pkg];
        because.extend(pending.origin.owner());
        state.by_name.insert(p.name_id, state.picked.len());
        state.picked.push(Picked {
            pkg,
            origin: pending.origin,
            dep: pending.dep,
            pins: pending.pins.clone(),
            decision,
            because: because.into(),
        });
        for (id, _) in p.versioned_names() {
            state.versioned.insert(id, pkg);
        }
        // Dependencies may come from the repositories their parent's pinning allows, but
        // prefer untagged ones (apk-tools tests pinning2, pinning4).
        let inherited = if pending.pins.preferred.is_none() {
            pending.pins.clone()
        } else {
            Rc::new(Pins { allowed: pending.pins.allowed.clone(), preferred: None })
        };
        for (dep, &name) in p.depends.iter().zip(pool.depend_ids(pkg)) {
            let pins = match &dep.tag {
                None => inherited.clone(),
                Some(tag) => {
                    let mut allowed = inherited.allowed.clone();
                    allowed.insert(tag.clone());
                    Rc::new(Pins { allowed, preferred: Some(tag.clone()) })
                }
            };
            self.log.push(Pending { dep, name, origin: Origin::Dependency(pkg), pins });
        }
    }

    /// Candidates for `pending`, best first, and the chosen packages that excluded others;
    /// a dead end when there are none.
    fn candidates(
        &mut self,
        state: &State<'p>,
        pending: &Pending<'p>,
    ) -> Result<(Vec<Candidate<'p>>, Vec<usize>), Stop> {
        let dep = pending.dep;
        let pool = self.pool;
        let providers = pending.name.map_or(&[][..], |n| pool.providers[n as usize].as_slice());
        if providers.is_empty() {
            let problem = Problem::NoSuchPackage {
                dependency: dep.clone(),
                required_by: self.chain(state, pending),
            };
            let blame = self.blame(state, pending.origin.owner());
            return Err(self.fail(problem, blame));
        }

        let mut best: BTreeMap<usize, Option<&'p str>> = BTreeMap::new();
        let mut rejected: BTreeMap<usize, Why> = BTreeMap::new();
        let mut excluded_by: BTreeSet<usize> = BTreeSet::new();
        for &p in providers {
            let offered = pool.offered(p);
            let verdict = if !Self::offer_meets(offered, dep) {
                Err((Why::Version, None))
            } else if !pool.eligible(p.pkg, &pending.pins.allowed) {
                Err((Why::Masked { tags: pool.tags(p.pkg) }, None))
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
                Err((why, culprit)) => {
                    excluded_by.extend(culprit);
                    if !best.contains_key(&p.pkg) {
                        rejected.insert(p.pkg, why);
                    }
                }
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
                required_by: self.chain(state, pending),
                candidates,
            };
            let blame = self.blame(state, excluded_by.into_iter().chain(pending.origin.owner()));
            return Err(self.fail(problem, blame));
        }
        Ok((list, excluded_by.into_iter().collect()))
    }

    fn virtual_problem(&self, state: &State<'p>, pending: &Pending<'p>) -> Problem {
        let mut providers: Vec<String> = self
            .pool
            .providers_of(&pending.dep.name)
            .iter()
            .map(|p| self.pool.pkgs[p.pkg].name.clone())
            .collect();
        providers.sort();
        providers.dedup();
        Problem::Virtual {
            dependency: pending.dep.clone(),
            providers,
            required_by: self.chain(state, pending),
        }
    }
}
