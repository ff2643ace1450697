//! Why each package of an image is installed, from the image alone.
//!
//! An image records what it holds (`lib/apk/db/installed`, with each package's `D:`, `p:`
//! and `i:` lines) and what was asked for (`etc/apk/world`), but not the path from one to
//! the other. Resolving that world against the installed records as the only repository
//! gives it back: the solver can only choose what is installed, and its reasons are the
//! ones a build of that world would give.

use std::collections::BTreeMap;

use flatroot_vfs::{Follow, FrozenTree, NodeKind};

use crate::apk::dependency::Dependency;
use crate::resolve::{self, Repository, Request};
use crate::rootfs::installed_read::InstalledRecord;

/// The chain from the world to each installed package, by name, as
/// [`resolve::Resolution::explain`] gives it; empty when the image has no world file, or
/// when its world does not resolve to exactly what is installed (then no answer is better
/// than a wrong one).
pub(super) fn installed_reasons(
    tree: &FrozenTree,
    records: &[InstalledRecord],
) -> BTreeMap<String, Vec<String>> {
    let Some(world) = world(tree) else { return BTreeMap::new() };
    let request = Request {
        world,
        repositories: vec![Repository {
            tag: None,
            name: "lib/apk/db/installed".to_string(),
            entries: records.iter().map(|r| r.record.clone()).collect(),
        }],
        arch: None,
        locked: Vec::new(),
    };
    let resolution = match resolve::resolve(&request) {
        Ok(resolution) => resolution,
        Err(error) => {
            tracing::debug!(%error, "the image's world does not resolve against its packages");
            return BTreeMap::new();
        }
    };
    if resolution.packages.len() != records.len() {
        tracing::debug!("the image's world resolves to other packages than it holds");
        return BTreeMap::new();
    }

    records
        .iter()
        .filter_map(|r| {
            let why = resolution.explain(&r.record.name)?;
            Some((r.record.name.clone(), why))
        })
        .collect()
}

/// The dependencies of `etc/apk/world`, one per whitespace-separated word; `None` when the
/// file is missing or a word is not a dependency.
fn world(tree: &FrozenTree) -> Option<Vec<Dependency>> {
    let id = tree.lookup(b"etc/apk/world", Follow::Final).ok()?;
    let NodeKind::File(content) = &tree.node(id).kind else { return None };
    let text = std::str::from_utf8(content.bytes()).ok()?;
    text.split_whitespace().map(|word| Dependency::parse(word).ok()).collect()
}
