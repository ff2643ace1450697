//! install_if: which package's condition holds, and the pinning it inherits.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::rc::Rc;

use super::{Pins, Solver, State};
use crate::apk::version;

impl Solver<'_, '_> {
    /// The next install_if package, not in `skip`, whose condition holds: by name, highest
    /// version first, with the pinning it inherits from the packages that trigger it.
    pub(super) fn next_install_if(
        &self,
        state: &State<'_>,
        skip: &BTreeSet<usize>,
    ) -> Option<(usize, Rc<Pins>)> {
        let mut best: Option<(usize, Rc<Pins>)> = None;
        for &id in &self.pool.install_if {
            let p = &self.pool.pkgs[id];
            if let Some((b, _)) = &best
                && self.pool.pkgs[*b].name != p.name
            {
                break;
            }
            if state.by_name.contains_key(&p.name_id) || skip.contains(&id) || p.unusable.is_some()
            {
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
    pub(super) fn declined_install_if(
        &self,
        state: &State<'_>,
        skip: &BTreeSet<usize>,
    ) -> Option<(usize, Rc<Pins>)> {
        state.declined.iter().copied().filter(|id| !skip.contains(id)).find_map(|id| {
            let p = &self.pool.pkgs[id];
            if state.by_name.contains_key(&p.name_id) {
                return None;
            }
            let pins = self.install_if_holds(state, id)?;
            self.pool.eligible(id, &pins.allowed).then_some((id, pins))
        })
    }

    /// When `id`'s install_if condition holds, the pinning it inherits: every tag the
    /// triggering packages were allowed (apk-tools test pinning12).
    pub(super) fn install_if_holds(&self, state: &State<'_>, id: usize) -> Option<Rc<Pins>> {
        let mut pins = Pins::default();
        for d in &self.pool.pkgs[id].install_if {
            if d.conflict {
                if self.violator(state, d, None).is_some() {
                    return None;
                }
                continue;
            }
            let trigger = self.pool.providers_of(&d.name).iter().find(|&&p| {
                self.is_picked(state, p.pkg) && Self::offer_meets(self.pool.offered(p), d)
            })?;
            let at = *state.by_name.get(&self.pool.pkgs[trigger.pkg].name_id)?;
            pins.allowed.extend(state.picked[at].pins.allowed.iter().cloned());
        }
        Some(Rc::new(pins))
    }
}
