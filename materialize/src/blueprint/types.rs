//! The data of an apko blueprint, typed: what [`super::load`] returns.
//!
//! Field names follow apko's YAML keys (`pkg/build/types/types.go`, `ImageConfiguration`) in
//! snake_case; the YAML spelling is given on each field. Every struct rejects unknown keys.
//! Keys flatroot parses but does not act on are marked "not acted on"; a blueprint that sets
//! one gets a [`Warning`](super::Warning).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::arch::Arch;

/// A whole blueprint: apko's `ImageConfiguration`.
///
/// After [`super::load`], the includes are merged in, `archs` holds no duplicates, and local
/// repository and key paths are resolved (see [`Repository::local_path`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Blueprint {
    /// `contents`: where packages come from and which to install.
    #[serde(default)]
    pub contents: Contents,
    /// `entrypoint`: the image's OCI `Entrypoint`.
    #[serde(default)]
    pub entrypoint: Entrypoint,
    /// `cmd`: the image's OCI `Cmd`, one shell-style string as apko writes it.
    #[serde(default)]
    pub cmd: Option<String>,
    /// `stop-signal`: the OCI `StopSignal`, e.g. `SIGTERM`.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `work-dir`: the OCI `WorkingDir`.
    #[serde(default)]
    pub work_dir: Option<String>,
    /// `accounts`: users and groups written to `/etc/passwd` and `/etc/group`, and the user
    /// the image runs as.
    #[serde(default)]
    pub accounts: Accounts,
    /// `archs`: the architectures to build, in the order written, without duplicates.
    ///
    /// Empty means the host's default, which flatroot fixes to [`Arch::X86_64`] so that the
    /// result does not depend on the machine that builds it.
    #[serde(default)]
    pub archs: Vec<Arch>,
    /// `environment`: variables of the OCI `Env`, sorted by name.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `paths`: changes applied to the tree after the packages are installed, in order.
    #[serde(default)]
    pub paths: Vec<PathMutation>,
    /// `vcs-url`: the source repository of the blueprint. Not acted on.
    #[serde(default)]
    pub vcs_url: Option<String>,
    /// `annotations`: OCI annotations of the image manifest and index, sorted by key.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `include`: another blueprint merged under this one (see [`super::load`]), as written.
    #[serde(default)]
    pub include: Option<String>,
    /// `volumes`: the OCI `Volumes` of the image config.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// `layering`: how apko splits the image into layers. Not acted on: flatroot writes one
    /// layer.
    #[serde(default)]
    pub layering: Option<Layering>,
    /// `certificates`: CA certificates to add to the image's bundle. Not acted on.
    #[serde(default)]
    pub certificates: Option<Certificates>,
    /// `os-release`: fields of a generated `/etc/os-release` (older apko). Not acted on.
    #[serde(default)]
    pub os_release: Option<OsRelease>,
    /// `options`: named variations of the blueprint (older apko). Not acted on.
    #[serde(default)]
    pub options: Option<BTreeMap<String, BuildOption>>,
    /// `format`: the layer format (`tar`, `erofs`, `erofs+zstd,level=3`, …), as apko's
    /// `LayerFormat` spells it. Not acted on.
    #[serde(default)]
    pub format: Option<String>,
}

impl Blueprint {
    /// The architectures to build: `archs`, or `[x86_64]` when it is empty. flatroot fixes the
    /// default rather than asking the host, so the same blueprint builds the same image
    /// anywhere.
    pub fn target_archs(&self) -> Vec<Arch> {
        if self.archs.is_empty() { vec![Arch::default()] } else { self.archs.clone() }
    }
}

/// `contents`: apko's `ImageContents`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contents {
    /// `repositories`: used to resolve packages at build time and written to the image's
    /// `/etc/apk/repositories`.
    #[serde(default)]
    pub repositories: Vec<Repository>,
    /// `build_repositories`: used at build time only. Not acted on.
    #[serde(default)]
    pub build_repositories: Option<Vec<Repository>>,
    /// `runtime_repositories`: written to `/etc/apk/repositories` only. Not acted on.
    #[serde(default)]
    pub runtime_repositories: Option<Vec<Repository>>,
    /// `keyring`: public keys (URLs or local files) that index signatures must verify against.
    #[serde(default)]
    pub keyring: Vec<KeyringEntry>,
    /// `runtime_keyring`: keys installed into `/etc/apk/keys` for runtime use only. Not acted
    /// on.
    #[serde(default)]
    pub runtime_keyring: Option<Vec<InlineFile>>,
    /// `packages`: the world, one apk dependency each (`name`, `name=1.2-r0`, `name@tag`,
    /// `so:libc.musl-x86_64.so.1`), as written; the resolver parses them.
    #[serde(default)]
    pub packages: Vec<String>,
    /// `baseimage`: an OCI layout to build on top of (experimental in apko). Not acted on.
    #[serde(default)]
    pub baseimage: Option<BaseImage>,
}

/// One repository entry: `[@tag ]location`, as `/etc/apk/repositories` spells it.
///
/// The tag (apk-tools' "pinned repository", selected by `name@tag` in the world) is the word
/// after `@`, ended by whitespace. A trailing `/` of the location is dropped, as apko does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The tag without its `@`, if the entry has one.
    pub tag: Option<String>,
    /// The URL or path, as written (after trimming a trailing `/`).
    pub location: String,
    /// For a local repository (no `scheme://`, or `file://`), the directory it names,
    /// resolved against the working directory given to [`super::load`]. `None` for remote
    /// repositories and before loading finishes.
    pub local_path: Option<PathBuf>,
}

impl Repository {
    /// Parses one entry. Errors on an empty entry, an empty tag, or a tag with no location.
    pub fn parse(entry: &str) -> Result<Repository, String> {
        let entry = entry.trim();
        let (tag, location) = match entry.strip_prefix('@') {
            Some(rest) => {
                let Some((tag, location)) = rest.split_once(char::is_whitespace) else {
                    return Err(format!("repository `{entry}` has a tag but no location"));
                };
                if tag.is_empty() {
                    return Err(format!("repository `{entry}` has an empty tag"));
                }
                (Some(tag.to_owned()), location.trim())
            }
            None => (None, entry),
        };
        if location.is_empty() {
            return Err("empty repository entry".to_owned());
        }

        // apko trims trailing slashes so `<repo>/<arch>/APKINDEX.tar.gz` is well formed.
        let trimmed = location.trim_end_matches('/');
        let location = if trimmed.is_empty() { "/" } else { trimmed };
        Ok(Repository { tag, location: location.to_owned(), local_path: None })
    }
}

impl fmt::Display for Repository {
    /// Writes the entry as `/etc/apk/repositories` wants it: `@tag location` or `location`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "@{tag} {}", self.location),
            None => f.write_str(&self.location),
        }
    }
}

impl<'de> Deserialize<'de> for Repository {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Repository, D::Error> {
        let entry = String::deserialize(deserializer)?;
        Repository::parse(&entry).map_err(de::Error::custom)
    }
}

/// One `keyring` entry: a public key by URL or local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringEntry {
    /// The URL or path, as written.
    pub location: String,
    /// For a local key, the file it names, resolved against the working directory given to
    /// [`super::load`]. `None` for remote keys and before loading finishes.
    pub local_path: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for KeyringEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyringEntry, D::Error> {
        let location = String::deserialize(deserializer)?;
        if location.trim().is_empty() {
            return Err(de::Error::custom("empty keyring entry"));
        }
        Ok(KeyringEntry { location: location.trim().to_owned(), local_path: None })
    }
}

/// A file given inline: `{name, content}` (apko's `RuntimeKeyringEntry` and
/// `AdditionalCertificateEntry`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineFile {
    /// `name`: the file name the content is installed under.
    #[serde(default)]
    pub name: String,
    /// `content`: the PEM text.
    #[serde(default)]
    pub content: String,
}

/// `contents.baseimage`: apko's `BaseImageDescriptor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseImage {
    /// `image`: path of the base image's OCI layout.
    #[serde(default)]
    pub image: Option<String>,
    /// `apkindex`: directory of `<arch>/APKINDEX` files listing the base image's packages.
    #[serde(default)]
    pub apkindex: Option<String>,
}

/// `entrypoint`: apko's `ImageEntrypoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entrypoint {
    /// `type`: `service-bundle` makes apko run s6 over `services`. Not acted on.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `command`: the entrypoint command line, split on whitespace into the OCI
    /// `Entrypoint` array.
    #[serde(default)]
    pub command: Option<String>,
    /// `shell-fragment`: when set, the entrypoint becomes `/bin/sh -c <fragment>`.
    #[serde(default)]
    pub shell_fragment: Option<String>,
    /// `services`: s6 service name to command, for `type: service-bundle`. Not acted on.
    #[serde(default)]
    pub services: Option<BTreeMap<String, String>>,
}

impl Entrypoint {
    /// True when no key of the entrypoint is set (apko's "zero" entrypoint, which an
    /// included blueprint may fill).
    pub fn is_empty(&self) -> bool {
        *self == Entrypoint::default()
    }
}

/// `accounts`: apko's `ImageAccounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Accounts {
    /// `run-as`: the OCI `User`, a user name or a numeric uid.
    #[serde(default)]
    pub run_as: Option<String>,
    /// `users`: entries added to `/etc/passwd`.
    #[serde(default)]
    pub users: Vec<User>,
    /// `groups`: entries added to `/etc/group`.
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// One `accounts.users` entry.
///
/// apko requires a non-empty `username` and a non-zero `uid`; [`super::load`] checks both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// `username`: the login name.
    #[serde(default)]
    pub username: String,
    /// `uid`: the user id; never 0 (use `run-as: 0` to run as root).
    #[serde(default)]
    pub uid: u32,
    /// `gid`: the primary group id; `None` when not written.
    #[serde(default)]
    pub gid: Option<u32>,
    /// `shell`: the login shell; `None` when not written.
    #[serde(default)]
    pub shell: Option<String>,
    /// `homedir`: the home directory; see [`User::home_dir`] for the default.
    #[serde(default)]
    pub homedir: Option<String>,
}

impl User {
    /// The home directory: `homedir`, or `/home/<username>` as apko defaults it.
    pub fn home_dir(&self) -> String {
        match &self.homedir {
            Some(dir) if !dir.is_empty() => dir.clone(),
            _ => format!("/home/{}", self.username),
        }
    }
}

/// One `accounts.groups` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// `groupname`: the group name; must not be empty.
    #[serde(default)]
    pub groupname: String,
    /// `gid`: the group id.
    #[serde(default)]
    pub gid: u32,
    /// `members`: user names listed in the group's member field.
    #[serde(default)]
    pub members: Vec<String>,
}

/// One `paths` entry: apko's `PathMutation`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathMutation {
    /// `path`: the absolute path in the image to create or change.
    pub path: String,
    /// `type`: what to do at `path`.
    #[serde(rename = "type")]
    pub kind: PathKind,
    /// `uid`: owner to set; `None` leaves the owner as it is.
    #[serde(default)]
    pub uid: Option<u32>,
    /// `gid`: group to set; `None` leaves the group as it is.
    #[serde(default)]
    pub gid: Option<u32>,
    /// `permissions`: mode bits to set; `None` when not written.
    #[serde(default)]
    pub permissions: Option<Mode>,
    /// `source`: the link target for `symlink`, the existing path for `hardlink`; required by
    /// both (checked by [`super::load`]).
    #[serde(default)]
    pub source: Option<String>,
    /// `recursive`: apply `permissions` (and `uid`/`gid` when set) to everything beneath
    /// `path`; honoured for `directory` and `permissions`. Default `false`.
    #[serde(default)]
    pub recursive: bool,
}

/// The `type` of a path mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// `directory`: create the directory (and missing parents).
    Directory,
    /// `empty-file`: create an empty regular file.
    EmptyFile,
    /// `hardlink`: make `path` another name of the file at `source`.
    Hardlink,
    /// `symlink`: make `path` a symbolic link whose target is `source`.
    Symlink,
    /// `permissions`: change the mode (and owner, when given) of an existing path.
    Permissions,
}

/// Permission bits: the twelve low bits of a file mode (at most `0o7777`).
///
/// apko reads `permissions` as a YAML integer, so `0o755`, `0755` (octal, YAML 1.1 style) and
/// decimal `493` are all the same mode. flatroot accepts those three forms; because the YAML
/// parser hands `0755` over as text, a quoted `"0755"` or `"0o755"` is accepted too.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(u32);

impl Mode {
    /// The largest mode: all permission bits, setuid, setgid and sticky.
    pub const MAX: u32 = 0o7777;

    /// Makes a mode; `None` when `bits` exceeds [`Mode::MAX`].
    pub fn new(bits: u32) -> Option<Mode> {
        (bits <= Mode::MAX).then_some(Mode(bits))
    }

    /// The mode bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Parses `0o755` or `0755` (octal) or `493` (decimal).
    pub fn parse(text: &str) -> Option<Mode> {
        let text = text.trim();
        let (digits, radix) = if let Some(octal) = text.strip_prefix("0o") {
            (octal, 8)
        } else if let Some(octal) = text.strip_prefix('0').filter(|rest| !rest.is_empty()) {
            (octal, 8)
        } else {
            (text, 10)
        };

        // `from_str_radix` would also take a sign; a mode is digits only.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Mode::new(u32::from_str_radix(digits, radix).ok()?)
    }
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#o}", self.0)
    }
}

impl fmt::Display for Mode {
    /// Writes the mode as four octal digits, e.g. `0755`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mode, D::Error> {
        deserializer.deserialize_any(ModeVisitor)
    }
}

struct ModeVisitor;

impl Visitor<'_> for ModeVisitor {
    type Value = Mode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file mode such as 0o755, 0755 or 493, at most 0o7777")
    }

    fn visit_u64<E: de::Error>(self, bits: u64) -> Result<Mode, E> {
        u32::try_from(bits)
            .ok()
            .and_then(Mode::new)
            .ok_or_else(|| E::custom(format!("permissions {bits:#o} exceed 0o7777")))
    }

    fn visit_i64<E: de::Error>(self, bits: i64) -> Result<Mode, E> {
        match u64::try_from(bits) {
            Ok(bits) => self.visit_u64(bits),
            Err(_) => Err(E::custom(format!("negative permissions {bits}"))),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Mode, E> {
        Mode::parse(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// `layering`: apko's `Layering`. Not acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layering {
    /// `strategy`: apko knows `origin`.
    #[serde(default)]
    pub strategy: Option<String>,
    /// `budget`: the number of layers apko may add.
    #[serde(default)]
    pub budget: Option<i64>,
}

/// `certificates`: apko's `ImageCertificates`. Not acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificates {
    /// `additional`: PEM certificates given inline.
    #[serde(default)]
    pub additional: Vec<InlineFile>,
    /// `providers`: virtual package names whose certificate files form the CA bundle.
    #[serde(default)]
    pub providers: Vec<String>,
}

/// `os-release`: the fields of a generated `/etc/os-release` (older apko). Not acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OsRelease {
    /// `name`: `NAME=`.
    #[serde(default)]
    pub name: Option<String>,
    /// `id`: `ID=`.
    #[serde(default)]
    pub id: Option<String>,
    /// `version-id`: `VERSION_ID=`.
    #[serde(default)]
    pub version_id: Option<String>,
    /// `pretty-name`: `PRETTY_NAME=`.
    #[serde(default)]
    pub pretty_name: Option<String>,
    /// `home-url`: `HOME_URL=`.
    #[serde(default)]
    pub home_url: Option<String>,
    /// `bug-report-url`: `BUG_REPORT_URL=`.
    #[serde(default)]
    pub bug_report_url: Option<String>,
}

/// One entry of `options`: apko's (deprecated) `BuildOption`, a patch applied on request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildOption {
    /// `contents`: packages to add and remove.
    #[serde(default)]
    pub contents: ContentsOption,
    /// `accounts`: a different `run-as`.
    #[serde(default)]
    pub accounts: AccountsOption,
    /// `environment`: variables to add or replace.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `entrypoint`: a replacement entrypoint.
    #[serde(default)]
    pub entrypoint: Entrypoint,
}

/// `options.<name>.contents`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentsOption {
    /// `packages`: the change to the package list.
    #[serde(default)]
    pub packages: ListOption,
}

/// `options.<name>.contents.packages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOption {
    /// `add`: entries to append.
    #[serde(default)]
    pub add: Vec<String>,
    /// `remove`: entries to drop.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `options.<name>.accounts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AccountsOption {
    /// `run-as`: the replacement user.
    #[serde(default)]
    pub run_as: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_with_tag_splits_at_first_whitespace() {
        let repo = Repository::parse("@testing  /srv/repo/").unwrap();
        assert_eq!(repo.tag.as_deref(), Some("testing"));
        assert_eq!(repo.location, "/srv/repo");
        assert_eq!(repo.to_string(), "@testing /srv/repo");
    }

    #[test]
    fn repository_without_tag_keeps_location() {
        let repo = Repository::parse("https://packages.wolfi.dev/os").unwrap();
        assert_eq!(repo.tag, None);
        assert_eq!(repo.location, "https://packages.wolfi.dev/os");
    }

    #[test]
    fn malformed_repository_entries_are_rejected() {
        assert!(Repository::parse("@testing").is_err());
        assert!(Repository::parse("@ /srv/repo").is_err());
        assert!(Repository::parse("   ").is_err());
    }

    #[test]
    fn mode_parses_octal_and_decimal_forms() {
        assert_eq!(Mode::parse("0o755").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("0755").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("493").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("0").map(Mode::bits), Some(0));
        assert_eq!(Mode::parse("0o4755").map(Mode::bits), Some(0o4755));
    }

    #[test]
    fn mode_rejects_non_octal_digits_and_large_values() {
        assert_eq!(Mode::parse("0o789"), None);
        assert_eq!(Mode::parse("0789"), None);
        assert_eq!(Mode::parse("0o17777"), None);
        assert_eq!(Mode::parse("rwxr-xr-x"), None);
        assert_eq!(Mode::parse(""), None);
        assert_eq!(Mode::parse("0o+7"), None);
        assert_eq!(Mode::parse("+493"), None);
    }

    #[test]
    fn home_dir_defaults_under_home() {
        let user = User { username: "nonroot".into(), uid: 65532, ..User::default() };
        assert_eq!(user.home_dir(), "/home/nonroot");
        let user = User { homedir: Some("/srv".into()), ..user };
        assert_eq!(user.home_dir(), "/srv");
    }
}
