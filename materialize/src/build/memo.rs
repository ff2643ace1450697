//! A map whose value for each key is made once, shared by every clone: what lets the builds
//! of one process (the images of a batch, the sides of a diff) share the indexes they load
//! and the packages they verify.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

type Slot<V> = Arc<Mutex<Option<V>>>;

/// Values by key, each made once. Concurrent askers for one key make its value once: the
/// others wait for the first's result. A failure of the maker is not kept, so each asker
/// that meets it reports it, and a later one tries again; a user that wants a failure kept
/// makes it part of the value, a `Result` with a shared error (as
/// [`super::LoadedIndexes`] does).
pub(crate) struct Memo<K, V> {
    slots: Arc<Mutex<HashMap<K, Slot<V>>>>,
}

impl<K, V> Clone for Memo<K, V> {
    fn clone(&self) -> Self {
        Memo { slots: Arc::clone(&self.slots) }
    }
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo { slots: Arc::default() }
    }
}

/// Two handles are equal when they share one map.
impl<K, V> PartialEq for Memo<K, V> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.slots, &other.slots)
    }
}

impl<K, V> Eq for Memo<K, V> {}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    /// How many keys have been asked for.
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The value of `key`: made earlier (the flag says so), or now by `make`.
    pub(crate) fn get<E>(
        &self,
        key: K,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<(V, bool), E> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(key).or_default().clone()
        };

        // Held while making, so that another asker for the same key meanwhile waits for
        // this one's result instead of making it too.
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = slot.as_ref() {
            return Ok((known.clone(), true));
        }
        let made = make()?;
        *slot = Some(made.clone());
        Ok((made, false))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_made_once_and_a_failure_of_the_maker_is_not_kept() {
        let memo: Memo<&str, u32> = Memo::default();
        let mut calls = 0;
        let mut get = |key, fail: bool| {
            memo.get(key, || {
                calls += 1;
                if fail { Err("failed") } else { Ok(7) }
            })
        };

        assert_eq!(get("a", false), Ok((7, false)));
        assert_eq!(get("a", true), Ok((7, true)), "made once, never again");
        // A failure is reported each time, and a later success is kept.
        assert_eq!(get("b", true), Err("failed"));
        assert_eq!(get("b", true), Err("failed"));
        assert_eq!(get("b", false), Ok((7, false)));
        assert_eq!(get("b", true), Ok((7, true)));
        assert_eq!(calls, 4);
    }
}
