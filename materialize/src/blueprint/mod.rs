//! apko blueprints (`apko.yaml`): parsed strictly into typed data.
//!
//! A blueprint is apko's `ImageConfiguration` (see apko `pkg/build/types/types.go` and
//! `docs/apko_file.md`): the packages to install and where they come from, and the settings
//! of the image. flatroot reads every key apko accepts, so an `apko.yaml` loads unchanged, and
//! rejects any other key with its file, line and column. Keys it reads but does not act on
//! come back as [`Warning`]s, never silently ignored.
//!
//! The main types: [`load`] reads a file and follows its `include`s into a [`Loaded`], whose
//! [`Blueprint`] holds [`Contents`] (with [`Repository`] and [`KeyringEntry`] entries),
//! [`Entrypoint`], [`Accounts`], [`PathMutation`]s and [`Arch`]s. Failures are
//! [`BlueprintError`]s.
//!
//! ```no_run
//! use std::path::Path;
//! use flatroot_materialize::blueprint;
//!
//! let loaded = blueprint::load(Path::new("apko.yaml"), Path::new("/src/images"))?;
//! for warning in &loaded.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! let archs = loaded.blueprint.target_archs();
//! # Ok::<(), blueprint::BlueprintError>(())
//! ```

mod arch;
mod extras;
mod load;
mod mode;
mod number;
mod place;
mod trust;
mod types;
mod yaml;

pub use arch::{Arch, Platform};
pub use extras::{AccountsOption, BaseImage, BuildOption, ContentsOption, Layering, ListOption};
pub use load::{
    BlueprintError, Loaded, MAX_BLUEPRINT_BYTES, MAX_INCLUDE_DEPTH, Warning, load, parse_str,
};
pub use mode::Mode;
pub use place::{Place, SourceFiles, Step};
pub use trust::{Certificates, InlineFile};
pub use types::{
    Accounts, Blueprint, Contents, Entrypoint, Group, KeyringEntry, OsRelease, PathKind,
    PathMutation, Repository, User,
};
pub use yaml::{MAX_ALIASES, MAX_FLOW_DEPTH, SyntaxError};
