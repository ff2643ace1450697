//! Comparing two images, blueprints, locks, or one of each: what a change to a blueprint
//! does.
//!
//! [`diff`] takes two [`Input`]s and [`Options`] and returns a [`Report`] with up to three
//! parts, chosen by the [`Level`]:
//!
//! - config: entrypoint, cmd, env, user, work-dir, volumes, stop-signal, labels, index
//!   annotations and platform. A blueprint gives the config its build would write
//!   ([`crate::build::image_spec`] through the same config writer), so a blueprint and the
//!   image built from it agree.
//! - packages: added, removed, upgraded and downgraded (by apk version order), each with why
//!   it is there: the solver's chain from the world for a blueprint, unknown for an image
//!   (its installed database records no reason). A blueprint needs only its indexes here,
//!   a lock nothing but itself.
//! - files: added, removed and changed paths, each with what changed ([`Field`]) and the
//!   package that owns it on each side (from `lib/apk/db/installed`).
//!
//! Generated files whose bytes depend on order or timestamps only (`lib/apk/db/installed`,
//! `scripts.tar`, `triggers`, `etc/apk/world`) are compared by their parsed meaning unless
//! [`Options::strict`] is set and nothing is ignored; see [`meaning`].
//!
//! [`render`] turns a report into text for people, Markdown for a pull-request comment, or
//! JSON whose field names are an interface (see [`Report`]).

mod compare;
pub mod meaning;
mod model;
pub mod render;
mod side;
mod why;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

pub use model::{
    ChangeKind, ConfigChange, EntryView, FileChange, PackageChange, PackageDirection, Report,
    SideInfo, Stat, StatRow,
};

use crate::build::BuildError;
use crate::image::ImageReadError;
use crate::oci::image::ImageError;
use crate::plan::PlanError;
use crate::rootfs::installed_read::InstalledReadError;

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// An apko blueprint (YAML): resolved against its repositories and, for files, built
    /// in memory without writing an image.
    Blueprint(PathBuf),
    /// An OCI image layout directory or a docker-archive (or one image of either, as
    /// `PATH:NAME`), or a layer tar (`.tar`, `.tar.gz`, `.tar.zst`), read with
    /// [`crate::image::open_arg`].
    Image(PathBuf),
    /// An apko lock file (`.json`): its packages need no package data. Config and files
    /// come from the blueprint the lock names (`config.name`, against the working
    /// directory) built exactly as locked, when that blueprint is there and unchanged.
    Lock(PathBuf),
    /// An image in a registry, pulled into memory with [`crate::registry::pull::open_image`].
    /// The path is the reference as written.
    Registry(PathBuf),
}

impl Input {
    /// The input a path names: a file ending in `.yaml` or `.yml` is a blueprint, one
    /// ending in `.json` a lock, anything else an image.
    pub fn from_path(path: &Path) -> Input {
        let extension = path.extension().filter(|_| !path.is_dir());
        match extension.and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Input::Blueprint(path.to_path_buf()),
            Some("json") => Input::Lock(path.to_path_buf()),
            _ => Input::Image(path.to_path_buf()),
        }
    }

    /// The input an argument names: an existing path as [`Input::from_path`] says, else an
    /// image named as `PATH:NAME` ([`crate::image::split_named`]), else a registry
    /// reference (`host[:port]/name[:tag][@digest]`) if it parses as one, else a path
    /// (whose reading then fails, naming it).
    pub fn from_arg(arg: &Path) -> Input {
        if crate::image::split_named(arg).is_some() {
            return Input::Image(arg.to_path_buf());
        }
        if !arg.exists()
            && let Some(text) = arg.to_str()
            && crate::registry::Reference::looks_like(text)
        {
            return Input::Registry(arg.to_path_buf());
        }
        Input::from_path(arg)
    }

    /// The path the input was given as.
    pub fn path(&self) -> &Path {
        match self {
            Input::Blueprint(p) | Input::Image(p) | Input::Lock(p) | Input::Registry(p) => p,
        }
    }
}

/// What to compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// The image config only.
    Config,
    /// The installed packages only.
    Packages,
    /// The files only.
    Files,
    /// Config, packages and files (the default: a review wants to see everything).
    #[default]
    All,
}

impl Level {
    fn config(self) -> bool {
        matches!(self, Level::Config | Level::All)
    }

    fn packages(self) -> bool {
        matches!(self, Level::Packages | Level::All)
    }

    fn files(self) -> bool {
        matches!(self, Level::Files | Level::All)
    }
}

/// A property that can differ, and can be ignored with `--ignore`.
///
/// The names (`Field::name`) are used in `--ignore`, in the JSON `fields` lists and in the
/// text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    /// A file's bytes (size and sha256).
    Content,
    /// The kind of entry: file, directory, symlink, device, fifo.
    Type,
    /// The twelve permission bits.
    Mode,
    /// The numeric owner.
    Uid,
    /// The numeric group.
    Gid,
    /// The modification time (seconds and nanoseconds).
    Mtime,
    /// A symlink's target.
    Target,
    /// Which other paths the entry shares its node with (one of them is shown).
    Hardlink,
    /// Extended attributes.
    Xattrs,
    /// A device node's major and minor numbers.
    Device,
    /// The package that owns the path, per each side's installed database.
    Owner,
    /// Config `Entrypoint`.
    Entrypoint,
    /// Config `Cmd`.
    Cmd,
    /// Config `Env`, one change per variable.
    Env,
    /// Config `User`.
    User,
    /// Config `WorkingDir`.
    WorkDir,
    /// Config `Volumes`.
    Volumes,
    /// Config `StopSignal`.
    StopSignal,
    /// Config `Labels` (a flatroot image's labels are its blueprint's annotations).
    Labels,
    /// The annotations of the image index that lists the image (a blueprint's
    /// `annotations`), without the layout-local `org.opencontainers.image.ref.name`.
    Annotations,
    /// OS, architecture and variant.
    Platform,
}

impl Field {
    /// Every field, in the order reports list them.
    pub const ALL: [Field; 21] = [
        Field::Type,
        Field::Content,
        Field::Mode,
        Field::Uid,
        Field::Gid,
        Field::Mtime,
        Field::Target,
        Field::Hardlink,
        Field::Xattrs,
        Field::Device,
        Field::Owner,
        Field::Entrypoint,
        Field::Cmd,
        Field::Env,
        Field::User,
        Field::WorkDir,
        Field::Volumes,
        Field::StopSignal,
        Field::Labels,
        Field::Annotations,
        Field::Platform,
    ];

    /// The field's name as `--ignore` and the reports spell it (`work-dir`, `mtime`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Content => "content",
            Field::Type => "type",
            Field::Mode => "mode",
            Field::Uid => "uid",
            Field::Gid => "gid",
            Field::Mtime => "mtime",
            Field::Target => "target",
            Field::Hardlink => "hardlink",
            Field::Xattrs => "xattrs",
            Field::Device => "device",
            Field::Owner => "owner",
            Field::Entrypoint => "entrypoint",
            Field::Cmd => "cmd",
            Field::Env => "env",
            Field::User => "user",
            Field::WorkDir => "work-dir",
            Field::Volumes => "volumes",
            Field::StopSignal => "stop-signal",
            Field::Labels => "labels",
            Field::Annotations => "annotations",
            Field::Platform => "platform",
        }
    }

    /// The field of a name; `None` for a name that is not one of [`Field::ALL`].
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// What to compare; default [`Level::All`].
    pub level: Level,
    /// Properties whose differences do not count; default none.
    pub ignore: BTreeSet<Field>,
    /// Compare generated files byte for byte (only when `ignore` is empty as well);
    /// default `false`, which compares them by meaning.
    pub strict: bool,
    /// The architecture to compare (apk or OCI spelling). Default: the first of A's (a
    /// blueprint's `archs`, an image's manifests, in order) that B has too; when they share
    /// none, A's first against B's only one (image, or architecture of a blueprint or lock).
    pub arch: Option<String>,
    /// Attach a unified diff to content changes of text files.
    pub content: bool,
    /// Add counts and bytes per package and per top-level directory.
    pub stat: bool,
    /// The directory blueprint paths resolve against (as for `flatroot build`).
    pub cwd: PathBuf,
    /// `SOURCE_DATE_EPOCH` for blueprint inputs: the build time of their generated files,
    /// and the clamp the layer writer would apply to their mtimes. Default none.
    pub source_date_epoch: Option<i64>,
    /// Worker threads for building blueprint trees (at least 1).
    pub jobs: usize,
    /// How registries are reached, for [`Input::Registry`].
    pub registry: crate::registry::Options,
    /// Whether blueprint and lock sides keep and reuse decompressed package data in the
    /// cache of [`Options::fetch`] ([`crate::build::Options::derived_cache`]); default
    /// `false`.
    pub derived_cache: bool,
    /// The package data both sides share, so a package the two sides have in common is
    /// read once and its files compare by identity.
    pub store: crate::store::DataStore,
    /// The repository indexes both sides share, so an index the two sides name is read and
    /// verified once, and both resolve against one snapshot of it.
    pub indexes: crate::build::LoadedIndexes,
    /// The packages both sides share once verified, so a package the two sides have in
    /// common is read and checked once (a lock side checks its own against the lock).
    pub verified: crate::build::VerifiedPackages,
    /// How the repositories of blueprint and lock sides are reached: the cache directory,
    /// offline mode, TLS, credentials.
    pub fetch: crate::fetch::FetchOptions,
    /// Bounds on what the inputs may inflate to: each image layer, and each package of a
    /// blueprint or lock side, as [`crate::image::open_with`] and a build apply them.
    /// Default: [`Limits::default`](crate::apk::datatar::Limits::default).
    pub limits: crate::apk::datatar::Limits,
    /// Repositories and keys added to every blueprint and lock side, as `flatroot build`
    /// adds them (its `archs` are not used: [`Options::arch`] picks); default none.
    pub overrides: crate::plan::Overrides,
    /// Whether blueprint and lock sides accept unverifiable indexes and packages; default
    /// not.
    pub trust: crate::apk::signature::Trust,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            level: Level::All,
            ignore: BTreeSet::new(),
            strict: false,
            arch: None,
            content: false,
            stat: false,
            cwd: PathBuf::from("."),
            source_date_epoch: None,
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            registry: crate::registry::Options::default(),
            derived_cache: false,
            store: crate::store::DataStore::default(),
            indexes: crate::build::LoadedIndexes::default(),
            verified: crate::build::VerifiedPackages::default(),
            fetch: crate::fetch::FetchOptions::default(),
            limits: crate::apk::datatar::Limits::default(),
            overrides: crate::plan::Overrides::default(),
            trust: crate::apk::signature::Trust::default(),
        }
    }
}

impl Options {
    /// Whether generated files compare by meaning: unless `strict` with nothing ignored.
    pub fn by_meaning(&self) -> bool {
        !(self.strict && self.ignore.is_empty())
    }
}

/// Why two inputs could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A blueprint could not be read or planned.
    #[error("{input}: cannot read the blueprint")]
    Plan {
        /// The input.
        input: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<PlanError>,
    },
    /// A blueprint could not be resolved or built.
    #[error("{input}: cannot build the blueprint")]
    Build {
        /// The input.
        input: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<BuildError>,
    },
    /// The config a blueprint would produce could not be made.
    #[error("{input}: cannot make the image config")]
    Config {
        /// The input.
        input: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<ImageError>,
    },
    /// A lock file could not be read.
    #[error("{input}: cannot read the lock")]
    Lock {
        /// The input.
        input: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<crate::lock::LockError>,
    },
    /// A lock's config or files were asked for, and the blueprint it names is not usable.
    #[error("{input}: config and files of a lock come from its blueprint: {why}")]
    LockBlueprint {
        /// The lock.
        input: PathBuf,
        /// Why its blueprint cannot be used.
        why: String,
    },
    /// An image could not be read.
    #[error("{input}: cannot read the image")]
    Image {
        /// The input.
        input: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<ImageReadError>,
    },
    /// An image could not be pulled from its registry.
    #[error("{}: cannot pull the image", crate::registry::masked(&input.to_string_lossy()))]
    Registry {
        /// The reference, as given (printed with any credentials masked).
        input: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<crate::registry::RegistryError>,
    },
    /// The input is a file that no kind of input starts as (see
    /// [`crate::image::starts_as_image`]).
    #[error(
        "{input}: neither a blueprint (.yaml, .yml), a lock (.json) nor an image (an OCI \
         layout directory, a docker-archive, a layer .tar, .tar.gz or .tar.zst)"
    )]
    NotAnInput {
        /// The input.
        input: PathBuf,
    },
    /// The input is an empty file: neither a blueprint, a lock, an image nor a layer tar.
    #[error(
        "{input}: the file is empty, which is neither a blueprint, a lock, an image nor a \
         layer tar"
    )]
    EmptyFile {
        /// The input.
        input: PathBuf,
    },
    /// An image holds no image at all.
    #[error("{input}: holds no image")]
    Empty {
        /// The input.
        input: PathBuf,
    },
    /// The input has no image for the architecture compared.
    #[error("{input}: no image for architecture {arch:?} (it has {available})")]
    NoArch {
        /// The input.
        input: PathBuf,
        /// The architecture, OCI spelling.
        arch: String,
        /// The architectures it has.
        available: String,
    },
    /// Several architectures of a blueprint or lock match the platform compared (`arm` for
    /// `armhf` and `armv7`), and none is exactly it.
    #[error(
        "{input}: {} architectures match {arch:?} ({}): pick one with --arch",
        choices.len(),
        choices.join(", ")
    )]
    AmbiguousArch {
        /// The input.
        input: PathBuf,
        /// The platform compared.
        arch: String,
        /// The platforms that match it.
        choices: Vec<String>,
    },
    /// An architecture a lock or blueprint names is none flatroot knows.
    #[error("unknown architecture {arch:?}")]
    UnknownArch {
        /// The value given.
        arch: String,
    },
    /// `--arch` names no Linux platform, or A holds no Linux image to compare.
    #[error("{why}")]
    UnknownPlatform {
        /// Why, naming the value given.
        why: String,
    },
    /// An image's installed database is malformed.
    #[error("{input}: cannot read lib/apk/db/installed")]
    Installed {
        /// The input.
        input: PathBuf,
        /// What is wrong with it.
        #[source]
        source: InstalledReadError,
    },
}

/// Compares `a` with `b`; see the module documentation.
///
/// # Errors
/// [`DiffError`] when either input cannot be read, planned, resolved or built, or has no
/// image for the architecture compared.
pub fn diff(a: &Input, b: &Input, options: &Options) -> Result<Report, DiffError> {
    // The sides are independent until they are compared: each reads and inflates its own
    // layer or builds its own tree, so they run at once.
    let (opened_a, opened_b) = both(|| side::open(a, options), || side::open(b, options));
    let (opened_a, opened_b) = (opened_a?, opened_b?);
    let arch = side::choose_arch(&opened_a, &opened_b, options)?;
    let others: BTreeSet<String> =
        side::archs(&opened_a).into_iter().chain(side::archs(&opened_b)).collect();
    let (side_a, side_b) =
        both(|| side::load(opened_a, &arch, options), || side::load(opened_b, &arch, options));
    let (mut side_a, mut side_b) = (side_a?, side_b?);
    // A lock whose blueprint is gone can still be compared by packages with another such
    // lock; against anything with config or files, leaving those out would call the two
    // equal without having compared them.
    let has_more = |side: &side::Side| side.config.is_some() || side.tree.is_some();
    if has_more(&side_b)
        && let Some(error) = side_a.unusable_blueprint.take()
    {
        return Err(error);
    }
    if has_more(&side_a)
        && let Some(error) = side_b.unusable_blueprint.take()
    {
        return Err(error);
    }
    let mut report = compare::report(&side_a, &side_b, options);
    let chosen = options.arch.is_some();
    let note = arch_note(&side_a.info.arch, &side_b.info.arch, others, chosen);
    report.notes.extend(note);
    Ok(report)
}

/// What the report says of architectures: which were compared, when A's and B's differ
/// (a single image stands for any) or when some were left out, and which were left out.
/// `all` holds every architecture either side has; a bare layer has none. `chosen` says
/// that `--arch` picked the compared one, so the note does not suggest it.
fn arch_note(a: &str, b: &str, mut all: BTreeSet<String>, chosen: bool) -> Option<String> {
    all.retain(|arch| !arch.is_empty() && arch != a && arch != b);
    let compared = match (a, b) {
        ("", "") => None,
        (one, "") | ("", one) => Some(one.to_string()),
        (a, b) if a == b => Some(a.to_string()),
        (a, b) => Some(format!("{a} of A with {b} of B")),
    };
    let different = !a.is_empty() && !b.is_empty() && a != b;
    // Another OS's images are never read: listed apart, not offered as a choice.
    let (foreign, left): (Vec<String>, Vec<String>) =
        all.into_iter().partition(|arch| crate::image::is_other_os(arch));
    let foreign =
        (!foreign.is_empty()).then(|| format!("not Linux, never compared: {}", foreign.join(", ")));

    let said = if left.is_empty() {
        compared.filter(|_| different || foreign.is_some()).map(|c| format!("compared {c}"))
    } else {
        let compared = compared.map(|c| format!("compared {c} only; ")).unwrap_or_default();
        let hint = if chosen { "" } else { " (choose with --arch)" };
        Some(format!("{compared}not compared: {}{hint}", left.join(", ")))
    };
    let parts: Vec<String> = said.into_iter().chain(foreign).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Runs `a` on a thread of its own and `b` on this one, and returns both results.
fn both<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|scope| {
        let a = scope.spawn(a);
        let b = b();
        match a.join() {
            Ok(a) => (a, b),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(a: &str, b: &str, all: &[&str]) -> Option<String> {
        arch_note(a, b, all.iter().map(|s| s.to_string()).collect(), false)
    }

    #[test]
    fn the_arch_note_names_what_was_compared_and_only_what_was_not() {
        assert_eq!(note("amd64", "amd64", &["amd64"]), None);
        assert_eq!(
            note("amd64", "amd64", &["amd64", "arm64"]).as_deref(),
            Some("compared amd64 only; not compared: arm64 (choose with --arch)")
        );
        // Two single images of different architectures: both were compared.
        assert_eq!(
            note("amd64", "arm64", &["amd64", "arm64"]).as_deref(),
            Some("compared amd64 of A with arm64 of B")
        );
        assert_eq!(
            note("amd64", "arm64", &["amd64", "arm64", "s390x"]).as_deref(),
            Some(
                "compared amd64 of A with arm64 of B only; not compared: s390x (choose with --arch)"
            )
        );
        // A bare layer against an image: the image's architecture was compared.
        assert_eq!(note("", "amd64", &["", "amd64"]), None);
        assert_eq!(
            note("", "amd64", &["", "amd64", "arm64"]).as_deref(),
            Some("compared amd64 only; not compared: arm64 (choose with --arch)")
        );
        assert_eq!(note("", "", &[""]), None);
        // Another OS's image is never offered as a choice; any Linux one is, whatever its
        // variant is spelt.
        assert_eq!(
            note("arm64", "arm64", &["arm64", "arm64/v8.2"]).as_deref(),
            Some("compared arm64 only; not compared: arm64/v8.2 (choose with --arch)")
        );
        assert_eq!(
            note("amd64", "amd64", &["amd64", "windows/amd64"]).as_deref(),
            Some("compared amd64; not Linux, never compared: windows/amd64")
        );
        assert_eq!(
            note("amd64", "amd64", &["amd64", "arm64", "windows/amd64"]).as_deref(),
            Some(
                "compared amd64 only; not compared: arm64 (choose with --arch); not Linux, \
                 never compared: windows/amd64"
            )
        );
        // Once --arch chose, the note only says what was left out.
        let all = ["amd64", "arm64"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            arch_note("amd64", "amd64", all, true).as_deref(),
            Some("compared amd64 only; not compared: arm64")
        );
    }

    #[test]
    fn both_blueprint_sides_verify_through_the_callers_one_set() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let options = Options { cwd: root.clone(), level: Level::Files, ..Options::default() };
        let blueprint = Input::Blueprint(root.join("testdata/blueprint.yaml"));

        let report = diff(&blueprint, &blueprint, &options).unwrap();

        assert!(report.equal);
        // The sides verified through the caller's set, so the second took the first's.
        assert!(!options.verified.is_empty(), "{:?}", options.verified);
    }
}
