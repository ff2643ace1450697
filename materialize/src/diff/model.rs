//! What a diff found. These types serialize to the JSON output of `flatroot diff --format
//! json`; their field names are an interface and change only with `schema`.
//!
//! ```text
//! {
//!   "schema": 1,
//!   "equal": false,                       // no difference under the level and ignores
//!   "level": "all", "ignore": ["mtime"], "strict": false,
//!   "a": {"input": "bp.yaml", "kind": "blueprint", "arch": "amd64"},
//!   "b": {"input": "out/image", "kind": "image", "arch": "amd64"},
//!   "config": [{"field": "env.PATH", "a": "/bin", "b": null}],      // null: not compared
//!   "packages": [{"name": "hello", "change": "upgraded", "a": "1.0-r0", "b": "2.1-r1",
//!                 "why": ["hello-2.1-r1 (world[hello])"]}],          // why null: unknown
//!   "files": [{"path": "/etc/motd", "change": "changed", "fields": ["content", "mtime"],
//!              "package": {"a": "alpine-base", "b": "alpine-base"},
//!              "a": {entry}, "b": {entry}, "diff": "--- a/etc/motd\n+++ ..."}],
//!   "stat": {"packages": [row], "directories": [row]},                // with --stat only
//!   "notes": ["..."]
//! }
//! ```
//!
//! An entry is `{"type", "mode" ("0644"), "uid", "gid", "mtime", "mtime_nanos", "size",
//! "sha256", "target", "device" ("major,minor"), "hardlink", "xattrs"}`; `sha256` is set for
//! regular files, `target` for symlinks, `device` for device nodes, `hardlink` for a node
//! reached by several paths (another of them: the first in walk order that both sides
//! have, or for an added or removed path the first of all), and `xattrs` maps
//! each name to its value (as text when it is UTF-8, else `hex:` and the bytes in hex). A
//! stat row is `{"name", "added", "removed", "changed", "bytes_a", "bytes_b"}`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Field, Level};

/// One input as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideInfo {
    /// The path given.
    pub input: String,
    /// `blueprint`, `image` or `layer`.
    pub kind: &'static str,
    /// The OCI architecture compared (empty for a bare layer).
    pub arch: String,
}

/// A config property that differs. `a`/`b` are `null` where that side does not set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigChange {
    /// `entrypoint`, `cmd`, `env.NAME`, `user`, `work-dir`, `volumes`, `stop-signal`,
    /// `labels.KEY` or `platform`.
    pub field: String,
    /// A's value.
    pub a: Option<serde_json::Value>,
    /// B's value.
    pub b: Option<serde_json::Value>,
}

/// Which way a package moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageDirection {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// B's version is higher in apk version order.
    Upgraded,
    /// B's version is lower.
    Downgraded,
    /// The versions differ but compare equal (apk order treats them alike).
    Changed,
}

/// A package that is not the same on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    /// The package name.
    pub name: String,
    /// What happened to it.
    pub change: PackageDirection,
    /// A's version, if A has it.
    pub a: Option<String>,
    /// B's version, if B has it.
    pub b: Option<String>,
    /// Why it is installed, on B when B has it, else on A: the chain from the world entry
    /// (`name-version (world[dep])`, `name-version (required by parent[dep])`, ...).
    /// `null` when unknown, as for an image.
    pub why: Option<Vec<String>>,
}

/// Whether a path was added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// On both sides, with different [`FileChange::fields`].
    Changed,
}

/// One entry's properties, as the JSON shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryView {
    /// `file`, `directory`, `symlink`, `char`, `block` or `fifo`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Permission bits in octal, four digits.
    pub mode: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, whole seconds since the epoch rounded down: a time before the
    /// epoch with a fraction, −5.25 s, is −6 and 750000000 ns.
    pub mtime: i64,
    /// Nanoseconds of the modification time past `mtime`.
    pub mtime_nanos: u32,
    /// Size in bytes (files: content, symlinks: target length, else 0).
    pub size: u64,
    /// SHA-256 of a regular file's bytes, in hex.
    pub sha256: Option<String>,
    /// A symlink's target.
    pub target: Option<String>,
    /// A device's `major,minor`.
    pub device: Option<String>,
    /// For a node reached by several paths, another of them: the first (walk order) that
    /// both sides have, or for an added or removed path the first of all.
    pub hardlink: Option<String>,
    /// Extended attributes.
    pub xattrs: BTreeMap<String, String>,
}

/// A path that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// The path, with a leading `/`, escaped so that any path is one line of text: `\\`,
    /// `\n`, `\t`, `\r`, `\xNN` for other control characters and for bytes that are not
    /// UTF-8, `\u{N}` for other control code points.
    pub path: String,
    /// Added, removed or changed.
    pub change: ChangeKind,
    /// What differs, for a change; empty for an addition or removal.
    pub fields: Vec<Field>,
    /// The owning package on each side.
    pub package: Owners,
    /// A's entry.
    pub a: Option<EntryView>,
    /// B's entry.
    pub b: Option<EntryView>,
    /// A unified diff of the content, with `--content`, for text files.
    pub diff: Option<String>,
}

/// The package that owns a path on each side, `null` where none does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Owners {
    /// A's owner.
    pub a: Option<String>,
    /// B's owner.
    pub b: Option<String>,
}

impl FileChange {
    /// The package the change is grouped under: B's owner, else A's.
    pub fn group(&self) -> Option<&str> {
        self.package.b.as_deref().or(self.package.a.as_deref())
    }
}

/// Counts per package and per top-level directory (`--stat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stat {
    /// One row per owning package (B's owner, else A's; `(none)` for unowned paths).
    pub packages: Vec<StatRow>,
    /// One row per top-level directory (`/` for entries at the root).
    pub directories: Vec<StatRow>,
}

/// One group's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatRow {
    /// The package or directory.
    pub name: String,
    /// Paths added.
    pub added: u64,
    /// Paths removed.
    pub removed: u64,
    /// Paths changed.
    pub changed: u64,
    /// Bytes of these paths on A.
    pub bytes_a: u64,
    /// Bytes of these paths on B.
    pub bytes_b: u64,
}

/// The whole comparison; see the module documentation for its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The version of this JSON form.
    pub schema: u32,
    /// Whether nothing differs under the level and ignores.
    pub equal: bool,
    /// What was compared.
    pub level: Level,
    /// What was ignored.
    pub ignore: Vec<Field>,
    /// Whether generated files were compared byte for byte.
    pub strict: bool,
    /// The first input.
    pub a: SideInfo,
    /// The second input.
    pub b: SideInfo,
    /// Config changes; `null` when not compared (the level, or a side without a config).
    pub config: Option<Vec<ConfigChange>>,
    /// Package changes in name order; `null` when not compared.
    pub packages: Option<Vec<PackageChange>>,
    /// File changes in path order; `null` when not compared.
    pub files: Option<Vec<FileChange>>,
    /// Counts, with `--stat`.
    pub stat: Option<Stat>,
    /// What the comparison could not do, and blueprint warnings.
    pub notes: Vec<String>,
}
