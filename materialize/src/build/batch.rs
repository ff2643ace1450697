//! Many blueprints as one batch: the images are built concurrently, every package is
//! inflated once for all of them, and one failure does not stop the others.
//!
//! The sharing comes from the [`Options`] the builds hold in common: one
//! [`super::LoadedIndexes`] reads, fetches and verifies each repository index once, so that
//! every image resolves against one snapshot of it; one [`crate::store::DataStore`] hands
//! every image the same decompressed data for the same package; and one [`SegmentSharing`]
//! lets a layer segment that several images share be compressed once: an image that meets a
//! segment another is compressing waits for it, and one that meets it later finds it in the
//! cache's segments (with [`Options::derived_cache`]) or, without the cache, in
//! [`BATCH_MEMORY_SEGMENTS`] of memory. Downloaded package files are shared through the
//! cache as in separate builds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::output::{Output, build};
use super::{BuildError, Options, Outcome, Plan};
use crate::oci::segment_share::SegmentSharing;
use crate::progress::{Progress, Stage};

/// How many bytes of compressed segments a batch without the derived cache keeps in memory
/// for its later images: 512 MiB, about the gzip layer of a 1.3 GB rootfs, so that the
/// images of a batch built around one large image find its segments.
pub const BATCH_MEMORY_SEGMENTS: usize = 512 << 20;

/// Called with an item's index and result when it is done, from the worker that built it.
pub type Finished<'a> = dyn Fn(usize, &Result<Outcome, BuildError>) + Sync + 'a;

/// One image of a batch.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// A short name for progress and results, unique in the batch.
    pub name: String,
    /// What to build.
    pub plan: Plan,
    /// Where the image goes, written atomically as by [`build`].
    pub output: Output,
    /// The image's `NAME[:TAG]`.
    pub tag: String,
}

/// Builds every item with `options`, at most `concurrency` images at once (each with
/// `options.jobs` threads), and returns each item's result in the order of `items`.
///
/// Items start largest first (by the length of their world), so that the longest build
/// is not the last to start; the images do not depend on the order. Without
/// [`Options::derived_cache`] the images share compressed segments in memory
/// ([`BATCH_MEMORY_SEGMENTS`]) unless `options.segments` already keeps some.
///
/// `progress` hears each image's stages under the item's name (`name/arch`), and `finished`
/// each item's index and result as soon as it is done. A failing item leaves no output and
/// does not stop the others.
pub fn batch(
    items: &[BatchItem],
    options: &Options,
    concurrency: usize,
    progress: &dyn Progress,
    finished: &Finished<'_>,
) -> Vec<Result<Outcome, BuildError>> {
    let results: Vec<Mutex<Option<Result<Outcome, BuildError>>>> =
        items.iter().map(|_| Mutex::new(None)).collect();
    let order = largest_first(items);
    let next = AtomicUsize::new(0);
    let mut options = options.clone();
    if !options.derived_cache && !options.segments.keeps_memory() {
        options.segments = SegmentSharing::with_memory(BATCH_MEMORY_SEGMENTS);
    }
    let options = &options;

    // A worker takes the next item until none are left, so a slow image does not hold up
    // the ones behind it.
    let worker = || {
        while let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            let item = &items[index];
            let named = Named { name: &item.name, inner: progress };
            let options = Options { tag: item.tag.clone(), ..options.clone() };
            let result = build(&item.plan, &options, &item.output, &named);
            finished(index, &result);
            *results[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(result);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, items.len().max(1)) {
            scope.spawn(worker);
        }
    });

    results
        .into_iter()
        .zip(items)
        .map(|(slot, item)| {
            let result = slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
            result.unwrap_or_else(|| {
                Err(BuildError::NotBuilt { blueprint: item.plan.source.clone() })
            })
        })
        .collect()
}

/// The indices of `items`, largest world first; equal ones keep their order.
// Known shortcoming: the world's length stands in for the resolved plan's size, which is
// only known once the build has loaded the indexes.
fn largest_first(items: &[BatchItem]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(items[i].plan.world.len()));
    order
}

/// Progress of one image of a batch, reported under the image's name.
struct Named<'a> {
    name: &'a str,
    inner: &'a dyn Progress,
}

impl Progress for Named<'_> {
    fn stage(&self, image: &str, stage: Stage) {
        self.inner.stage(&format!("{}/{image}", self.name), stage);
    }

    fn advance(&self, image: &str, done: usize, total: usize) {
        self.inner.advance(&format!("{}/{image}", self.name), done, total);
    }
}
