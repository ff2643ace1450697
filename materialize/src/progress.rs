//! How the library reports progress without printing: the caller implements [`Progress`]
//! (the command line draws it on a terminal; tests ignore it).

use std::fmt;

/// A step of building one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and verifying repository indexes.
    Indexes,
    /// Choosing packages.
    Resolve,
    /// Reading, verifying and decompressing package files.
    Unpack {
        /// How many packages.
        packages: usize,
    },
    /// Writing generated files and applying `paths`.
    Rootfs,
    /// Serializing, compressing and hashing the layer.
    Layer,
    /// Writing config, manifest and index.
    Image,
    /// Pushing to a registry (the image is a reference).
    Push,
    /// Pulling from a registry (the image is a reference).
    Pull,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Indexes => f.write_str("reading indexes"),
            Stage::Resolve => f.write_str("resolving"),
            Stage::Unpack { packages } => write!(f, "unpacking {packages} packages"),
            Stage::Rootfs => f.write_str("generating files"),
            Stage::Layer => f.write_str("writing the layer"),
            Stage::Image => f.write_str("writing the image"),
            Stage::Push => f.write_str("pushing"),
            Stage::Pull => f.write_str("pulling"),
        }
    }
}

/// Receives progress reports; called from worker threads, so it must be `Sync`.
pub trait Progress: Sync {
    /// `image` (an arch, or a blueprint in a batch) entered `stage`.
    fn stage(&self, image: &str, stage: Stage);

    /// `image` has done `done` of the `total` steps of its current stage (the packages of
    /// [`Stage::Unpack`]); reports of one image may arrive out of order from its threads.
    fn advance(&self, _image: &str, _done: usize, _total: usize) {}
}

/// A [`Progress`] that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _image: &str, _stage: Stage) {}
}
