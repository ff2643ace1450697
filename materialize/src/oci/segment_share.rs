//! Compressed segments shared by the layers one process encodes, at the same time or one
//! after another.
//!
//! The images of a batch meet many of the same segments, often at the same moment, since
//! their layers are written in the same sorted path order. A store consulted only before
//! compressing lets two encoders both miss and both compress. [`SegmentSharing`] is the
//! process-wide part that prevents it: the keys being compressed right now, so that an
//! encoder asking for one of them waits for that result instead of compressing again, and,
//! for runs without the cache, an optional [`MemorySegments`] store bounded in bytes.
//! [`LayerSegments`] is one layer's [`SegmentStore`] over it (and over the cache's
//! [`CacheSegments`], when there is one), counting what that layer reused, took from
//! another encoder and compressed.
//!
//! ```
//! use std::sync::Arc;
//! use flatroot_materialize::oci::compress::{Compression, LayerEncoder};
//! use flatroot_materialize::oci::segment_share::{LayerSegments, SegmentSharing};
//!
//! let sharing = SegmentSharing::with_memory(64 << 20);
//! let mut reused = Vec::new();
//! for _ in 0..2 {
//!     let store = Arc::new(LayerSegments::new(sharing.clone(), None));
//!     let mut encoder =
//!         LayerEncoder::new(Vec::new(), Compression::default(), 2)?.with_store(store.clone());
//!     encoder.entry(&[0u8; 1024])?;
//!     encoder.finish()?;
//!     reused.push(store.stats().hits);
//! }
//! assert_eq!(reused, [0, 1]);
//! # Ok::<(), flatroot_materialize::oci::compress::CompressError>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::compress::CompressError;
use super::segment_store::{CacheSegments, SegmentKey, SegmentStats, SegmentStore};

/// What the encoders of one process share: the segments being compressed right now, and
/// optionally a [`MemorySegments`] store.
///
/// Cloning shares it. [`Default`] shares in-flight work only, and keeps nothing in memory.
/// A waiter holds no lock of the encoder it waits for, and an encoder that compresses a
/// claimed key never waits for another, so waiting cannot deadlock, whatever pools the
/// threads belong to. Memory stays bounded: a finished segment is held for its waiters
/// only, plus what the memory store's budget allows.
#[derive(Clone, Default)]
pub struct SegmentSharing {
    inner: Arc<Sharing>,
}

#[derive(Default)]
struct Sharing {
    /// The keys being compressed (or looked up) by some encoder right now.
    pending: Mutex<HashMap<SegmentKey, Arc<Pending>>>,
    memory: Option<MemorySegments>,
}

/// One key being worked on: its waiters sleep on `done` until `state` leaves `Running`.
#[derive(Default)]
struct Pending {
    state: Mutex<PendingState>,
    done: Condvar,
}

#[derive(Default)]
enum PendingState {
    #[default]
    Running,
    Ready(Arc<[u8]>),
    Failed,
}

/// The answer to a claim on a key.
enum Claim<'a> {
    /// Nobody else is working on the key: the caller must produce it and publish it.
    Owner(Owner<'a>),
    /// Another encoder produced it while the caller waited.
    Ready(Vec<u8>),
    /// Another encoder failed to produce it; the caller produces it by itself.
    Failed,
}

/// The right and duty to produce one key; dropped without [`Owner::publish`] (an error or a
/// panic), it wakes the waiters with `Failed` so that each compresses by itself.
struct Owner<'a> {
    sharing: &'a Sharing,
    key: SegmentKey,
    pending: Arc<Pending>,
}

impl std::fmt::Debug for SegmentSharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentSharing")
            .field("memory_bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}

/// Two handles are equal when they share one registry.
impl PartialEq for SegmentSharing {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for SegmentSharing {}

impl SegmentSharing {
    /// Sharing that also keeps compressed segments in memory, up to `budget` bytes of them
    /// (the least recently used are dropped first), for the layers that follow.
    pub fn with_memory(budget: usize) -> Self {
        let sharing = Sharing { memory: Some(MemorySegments::new(budget)), ..Sharing::default() };
        SegmentSharing { inner: Arc::new(sharing) }
    }

    /// Whether segments are also kept in memory ([`SegmentSharing::with_memory`]).
    pub fn keeps_memory(&self) -> bool {
        self.inner.memory.is_some()
    }

    /// The compressed bytes the memory store holds now; 0 without one.
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory.as_ref().map_or(0, MemorySegments::bytes)
    }

    /// Claims `key`, or waits for the encoder that holds it and takes its result.
    fn claim(&self, key: &SegmentKey) -> Claim<'_> {
        let mut pending = lock(&self.inner.pending);
        let Some(running) = pending.get(key).cloned() else {
            let own = Arc::new(Pending::default());
            pending.insert(*key, own.clone());
            return Claim::Owner(Owner { sharing: &self.inner, key: *key, pending: own });
        };
        drop(pending);

        let mut state = lock(&running.state);
        loop {
            match &*state {
                PendingState::Running => {
                    state = running.done.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                PendingState::Ready(bytes) => return Claim::Ready(bytes.to_vec()),
                PendingState::Failed => return Claim::Failed,
            }
        }
    }

    /// How many encoders wait for `key` now (tests use it to order threads without sleeps).
    #[cfg(test)]
    fn waiters(&self, key: &SegmentKey) -> usize {
        lock(&self.inner.pending).get(key).map_or(0, |p| Arc::strong_count(p) - 2)
    }
}

impl Owner<'_> {
    /// Hands `bytes` to the waiters and releases the key.
    fn publish(self, bytes: &[u8]) {
        self.finish(Some(bytes));
    }

    fn finish(&self, bytes: Option<&[u8]>) {
        let mut pending = lock(&self.sharing.pending);
        if pending.get(&self.key).is_some_and(|p| Arc::ptr_eq(p, &self.pending)) {
            pending.remove(&self.key);
        }
        // Out of the map, nobody new can find it: with no other holder, no copy is needed.
        let waited = Arc::strong_count(&self.pending) > 1;
        drop(pending);

        let mut state = lock(&self.pending.state);
        if let PendingState::Running = *state {
            *state = match bytes {
                Some(bytes) if waited => PendingState::Ready(Arc::from(bytes)),
                Some(_) => PendingState::Ready(Arc::from(&[][..])),
                None => PendingState::Failed,
            };
        }
        drop(state);
        self.pending.done.notify_all();
    }
}

impl Drop for Owner<'_> {
    fn drop(&mut self) {
        // After a publish the state is no longer `Running` and this changes nothing.
        self.finish(None);
    }
}

/// A store of compressed segments in memory, bounded by the bytes it holds: when a new
/// segment would pass the budget, the least recently used ones are dropped.
pub struct MemorySegments {
    budget: usize,
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    entries: HashMap<SegmentKey, (Box<[u8]>, u64)>,
    /// Keys by the tick of their last use, oldest first.
    by_use: BTreeMap<u64, SegmentKey>,
    bytes: usize,
    tick: u64,
}

impl MemorySegments {
    /// An empty store that holds at most `budget` bytes of compressed segments.
    pub fn new(budget: usize) -> Self {
        MemorySegments { budget, state: Mutex::new(MemoryState::default()) }
    }

    /// The compressed bytes held now.
    pub fn bytes(&self) -> usize {
        lock(&self.state).bytes
    }
}

impl MemoryState {
    fn touch(&mut self, key: &SegmentKey) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, used)) = self.entries.get_mut(key) {
            self.by_use.remove(used);
            *used = tick;
            self.by_use.insert(tick, *key);
        }
    }
}

impl SegmentStore for MemorySegments {
    fn load(&self, key: &SegmentKey) -> Option<Vec<u8>> {
        let mut state = lock(&self.state);
        let bytes = state.entries.get(key)?.0.to_vec();
        state.touch(key);
        Some(bytes)
    }

    fn store(&self, key: &SegmentKey, compressed: &[u8]) {
        if compressed.len() > self.budget {
            return;
        }
        let mut state = lock(&self.state);
        if let Some((old, used)) = state.entries.remove(key) {
            state.by_use.remove(&used);
            state.bytes -= old.len();
        }
        while state.bytes + compressed.len() > self.budget {
            let Some((_, oldest)) = state.by_use.pop_first() else { break };
            if let Some((old, _)) = state.entries.remove(&oldest) {
                state.bytes -= old.len();
            }
        }
        state.tick += 1;
        let tick = state.tick;
        state.entries.insert(*key, (compressed.into(), tick));
        state.by_use.insert(tick, *key);
        state.bytes += compressed.len();
    }
}

/// One layer's segment store: the cache's `segments/` when given, the sharing's memory
/// store when it has one, and the in-flight work of the other encoders of the process.
///
/// Segments made for the layer before it is serialized go through [`LayerSegments::early`],
/// so that a segment made early and found again by the encoder counts where it was made, not
/// as reused. The counts are of work done: a segment made early that the store could not
/// keep, or that the layer never met (its file was replaced), counts as compressed too.
pub struct LayerSegments {
    sharing: SegmentSharing,
    cache: Option<CacheSegments>,
    hits: AtomicU64,
    misses: AtomicU64,
    shared: AtomicU64,
    early: AtomicU64,
    kept_in_memory: AtomicU64,
    /// Keys made (or found) early and not yet met by the encoder.
    made_early: Mutex<HashSet<SegmentKey>>,
}

/// The store of a layer's segments made before the layer is serialized (see
/// [`LayerSegments`]).
pub struct EarlySegments<'a>(&'a LayerSegments);

impl LayerSegments {
    /// The store of one layer over `sharing` and, when given, the cache's store.
    pub fn new(sharing: SegmentSharing, cache: Option<CacheSegments>) -> Self {
        LayerSegments {
            sharing,
            cache,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            shared: AtomicU64::new(0),
            early: AtomicU64::new(0),
            kept_in_memory: AtomicU64::new(0),
            made_early: Mutex::new(HashSet::new()),
        }
    }

    /// This store, for segments made before the layer is serialized.
    pub fn early(&self) -> EarlySegments<'_> {
        EarlySegments(self)
    }

    /// What this layer did so far: `hits` found in a store, `shared` taken from another
    /// encoder, `misses` compressed; `written`, `discarded` and `write_failures` are the
    /// cache's (or, without one, `written` counts segments kept in memory).
    pub fn stats(&self) -> SegmentStats {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let kept = self.cache.as_ref().map(CacheSegments::stats).unwrap_or(SegmentStats {
            written: load(&self.kept_in_memory),
            ..SegmentStats::default()
        });
        SegmentStats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            shared: load(&self.shared),
            early: load(&self.early),
            ..kept
        }
    }
}

impl SegmentStore for LayerSegments {
    fn load(&self, key: &SegmentKey) -> Option<Vec<u8>> {
        let found = self
            .cache
            .as_ref()
            .and_then(|cache| cache.load(key))
            .or_else(|| self.sharing.inner.memory.as_ref().and_then(|memory| memory.load(key)));
        if found.is_some() && lock(&self.made_early).remove(key) {
            // Counted when it was made.
            return found;
        }
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn store(&self, key: &SegmentKey, compressed: &[u8]) {
        if let Some(cache) = &self.cache {
            cache.store(key, compressed);
        }
        if let Some(memory) = &self.sharing.inner.memory {
            memory.store(key, compressed);
            self.kept_in_memory.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn load_or_compress(
        &self,
        key: &SegmentKey,
        compress: &mut dyn FnMut() -> Result<Vec<u8>, CompressError>,
    ) -> Result<Vec<u8>, CompressError> {
        let owner = match self.sharing.claim(key) {
            Claim::Owner(owner) => owner,
            Claim::Ready(bytes) => {
                self.shared.fetch_add(1, Ordering::Relaxed);
                return Ok(bytes);
            }
            // The other encoder's error is its own to report; this one tries by itself.
            Claim::Failed => return load_or_compress_alone(self, key, compress),
        };
        // Looked up only under the claim, so a key is never compressed twice at once.
        let bytes = load_or_compress_alone(self, key, compress)?;
        owner.publish(&bytes);
        Ok(bytes)
    }
}

impl EarlySegments<'_> {
    /// Whether segments made now can still be found later: the memory store keeps them, or
    /// the cache has taken every write so far. Otherwise making them early would only make
    /// the encoder compress them twice.
    pub fn keeps(&self) -> bool {
        self.0.sharing.keeps_memory()
            || self.0.cache.as_ref().is_some_and(|cache| cache.stats().write_failures == 0)
    }
}

impl SegmentStore for EarlySegments<'_> {
    fn load(&self, key: &SegmentKey) -> Option<Vec<u8>> {
        self.0.load(key)
    }

    fn store(&self, key: &SegmentKey, compressed: &[u8]) {
        self.0.store(key, compressed);
    }

    fn load_or_compress(
        &self,
        key: &SegmentKey,
        compress: &mut dyn FnMut() -> Result<Vec<u8>, CompressError>,
    ) -> Result<Vec<u8>, CompressError> {
        let mut made = false;
        let bytes = self.0.load_or_compress(key, &mut || {
            made = true;
            compress()
        })?;
        if made {
            self.0.early.fetch_add(1, Ordering::Relaxed);
        }
        lock(&self.0.made_early).insert(*key);
        Ok(bytes)
    }
}

/// What [`SegmentStore::load_or_compress`] does without anyone to share with.
pub(crate) fn load_or_compress_alone(
    store: &(impl SegmentStore + ?Sized),
    key: &SegmentKey,
    compress: &mut dyn FnMut() -> Result<Vec<u8>, CompressError>,
) -> Result<Vec<u8>, CompressError> {
    if let Some(bytes) = store.load(key) {
        return Ok(bytes);
    }
    let bytes = compress()?;
    store.store(key, &bytes);
    Ok(bytes)
}

/// Locks `mutex`; a panic elsewhere leaves data that is still consistent (every update is
/// complete before it unlocks), so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
#[path = "segment_share_tests.rs"]
mod tests;
