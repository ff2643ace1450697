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
use serde::de::{self, Deserializer};

use super::arch::Arch;
use super::extras::{BaseImage, BuildOption, Layering};
use super::mode::Mode;
use super::number::{yaml11_id, yaml11_optional_id};
use super::trust::{Certificates, InlineFile};

/// A whole blueprint: apko's `ImageConfiguration`.
///
/// After [`super::load`], the includes are merged in, `archs` holds no duplicates, and local
/// repository and key paths are resolved (see [`Repository::local_path`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Blueprint {
    /// `contents`: where packages come from and which to install.
    #[serde(default, deserialize_with = "nullable")]
    pub contents: Contents,
    /// `entrypoint`: the image's OCI `Entrypoint`.
    #[serde(default, deserialize_with = "nullable")]
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
    #[serde(default, deserialize_with = "nullable")]
    pub accounts: Accounts,
    /// `archs`: the architectures to build, in the order written, without duplicates.
    ///
    /// Empty means the host's default, which flatroot fixes to [`Arch::X86_64`] so that the
    /// result does not depend on the machine that builds it.
    #[serde(default, deserialize_with = "nullable")]
    pub archs: Vec<Arch>,
    /// `environment`: variables of the OCI `Env`, sorted by name.
    #[serde(default, deserialize_with = "unique_map")]
    pub environment: BTreeMap<String, String>,
    /// `paths`: changes applied to the tree after the packages are installed, in order.
    #[serde(default, deserialize_with = "nullable")]
    pub paths: Vec<PathMutation>,
    /// `vcs-url`: the source repository of the blueprint; `URL@REVISION` becomes the
    /// `org.opencontainers.image.source` and `.revision` annotations, as in apko.
    #[serde(default)]
    pub vcs_url: Option<String>,
    /// `annotations`: OCI annotations of the image manifest and index, sorted by key.
    #[serde(default, deserialize_with = "unique_map")]
    pub annotations: BTreeMap<String, String>,
    /// `include`: another blueprint merged under this one (see [`super::load`]), as written.
    #[serde(default)]
    pub include: Option<String>,
    /// `volumes`: the OCI `Volumes` of the image config.
    #[serde(default, deserialize_with = "nullable")]
    pub volumes: Vec<String>,
    /// `layering`: how apko splits the image into layers. Not acted on: flatroot writes one
    /// layer.
    #[serde(default)]
    pub layering: Option<Layering>,
    /// `certificates`: CA certificates to install and add to the image's bundles.
    #[serde(default)]
    pub certificates: Option<Certificates>,
    /// `os-release`: the fields of `/etc/os-release` and `/etc/ID-release` (see
    /// [`crate::rootfs::os_release`]).
    #[serde(default)]
    pub os_release: Option<OsRelease>,
    /// `options`: named variations of the blueprint (older apko). Not acted on.
    #[serde(default, deserialize_with = "some_unique_map")]
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
    #[serde(default, deserialize_with = "nullable")]
    pub repositories: Vec<Repository>,
    /// `build_repositories`: used to resolve packages at build time, not written to the
    /// image.
    #[serde(default)]
    pub build_repositories: Option<Vec<Repository>>,
    /// `runtime_repositories`: written to `/etc/apk/repositories` after `repositories`,
    /// never read.
    #[serde(default)]
    pub runtime_repositories: Option<Vec<Repository>>,
    /// `keyring`: public keys (URLs or local files) that index signatures must verify against.
    #[serde(default, deserialize_with = "nullable")]
    pub keyring: Vec<KeyringEntry>,
    /// `runtime_keyring`: public keys given inline, installed into `/etc/apk/keys` for `apk`
    /// in the container; never used to verify a package of the build.
    #[serde(default)]
    pub runtime_keyring: Option<Vec<InlineFile>>,
    /// `packages`: the world, one apk dependency each (`name`, `name=1.2-r0`, `name@tag`,
    /// `so:libc.musl-x86_64.so.1`), as written; the resolver parses them.
    #[serde(default, deserialize_with = "nullable")]
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

/// `entrypoint`: apko's `ImageEntrypoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Entrypoint {
    /// `type`: `service-bundle` makes the image run s6 over `services`, as in apko; other
    /// values are not acted on.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `command`: the entrypoint command line, split on whitespace into the OCI
    /// `Entrypoint` array.
    #[serde(default)]
    pub command: Option<String>,
    /// `shell-fragment`: when set, the entrypoint becomes `/bin/sh -c <fragment>`.
    #[serde(default)]
    pub shell_fragment: Option<String>,
    /// `services`: s6 service name to command, for `type: service-bundle`.
    #[serde(default, deserialize_with = "some_unique_map")]
    pub services: Option<BTreeMap<String, String>>,
}

impl Entrypoint {
    /// True when no key of the entrypoint is set, or only to an empty string (apko's "zero"
    /// entrypoint, which an included blueprint may fill). `services: {}` is set, as a map
    /// that exists is to apko.
    pub fn is_empty(&self) -> bool {
        let unset = |text: &Option<String>| text.as_deref().is_none_or(str::is_empty);
        unset(&self.kind)
            && unset(&self.command)
            && unset(&self.shell_fragment)
            && self.services.is_none()
    }

    /// Whether `type` is `service-bundle`: s6 runs `services`, as apko makes such an image.
    pub fn is_service_bundle(&self) -> bool {
        self.kind.as_deref() == Some("service-bundle")
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
    #[serde(default, deserialize_with = "nullable")]
    pub users: Vec<User>,
    /// `groups`: entries added to `/etc/group`.
    #[serde(default, deserialize_with = "nullable")]
    pub groups: Vec<Group>,
}

/// One `accounts.users` entry.
///
/// apko requires a non-empty `username` and a non-zero `uid`; [`super::load`] checks both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// `username`: the login name; `~` (null) is none, as apko reads it.
    #[serde(default, deserialize_with = "nullable")]
    pub username: String,
    /// `uid`: the user id; never 0 (use `run-as: 0` to run as root).
    #[serde(default, deserialize_with = "yaml11_id")]
    pub uid: u32,
    /// `gid`: the primary group id; `None` when not written.
    #[serde(default, deserialize_with = "yaml11_optional_id")]
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
    /// `groupname`: the group name; must not be empty (`~`, null, is empty).
    #[serde(default, deserialize_with = "nullable")]
    pub groupname: String,
    /// `gid`: the group id.
    #[serde(default, deserialize_with = "yaml11_id")]
    pub gid: u32,
    /// `members`: user names listed in the group's member field.
    #[serde(default, deserialize_with = "nullable")]
    pub members: Vec<String>,
}

/// One `paths` entry: apko's `PathMutation`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathMutation {
    /// `path`: the absolute path in the image to create or change; `~` (null) is empty.
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    /// `type`: what to do at `path`.
    #[serde(rename = "type")]
    pub kind: PathKind,
    /// `uid`: owner to set; `None` leaves the owner as it is.
    #[serde(default, deserialize_with = "yaml11_optional_id")]
    pub uid: Option<u32>,
    /// `gid`: group to set; `None` leaves the group as it is.
    #[serde(default, deserialize_with = "yaml11_optional_id")]
    pub gid: Option<u32>,
    /// `permissions`: mode bits to set; `None` when not written.
    #[serde(default)]
    pub permissions: Option<Mode>,
    /// `source`: the link target for `symlink`, the existing path for `hardlink`; required by
    /// both (checked by [`super::load`]).
    #[serde(default)]
    pub source: Option<String>,
    /// `recursive`: apply `permissions` (and `uid`/`gid` when set) to everything beneath
    /// `path`; honoured for `directory` and `permissions`. Default `false`; `yes`, `on`,
    /// `no`, `off` are read as apko's YAML decoder reads them.
    #[serde(default, deserialize_with = "yaml11_bool")]
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

/// Reads a YAML `null` (a key with nothing after it, or whose entries are all commented out)
/// as the empty value, as apko's YAML decoder leaves such a field at its zero value.
pub(super) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads a boolean as apko's YAML decoder (go-yaml v3) reads one into a boolean field:
/// `true`/`false`, and for YAML 1.1's sake `y`, `yes`, `on`, `n`, `no`, `off` (lower case,
/// capitalized or upper case); `null` is `false`.
pub(super) fn yaml11_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Yaml11Bool;

    impl de::Visitor<'_> for Yaml11Bool {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean (true, false, yes, no, on, off)")
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
            Ok(value)
        }

        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
            match value {
                "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(true),
                "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(false),
                _ => Err(de::Error::invalid_value(de::Unexpected::Str(value), &self)),
            }
        }
    }

    deserializer.deserialize_any(Yaml11Bool)
}

/// Reads a mapping (or `null`, as the empty one) whose keys must all differ, as apko's YAML
/// decoder requires; serde would otherwise keep the last of two equal keys silently. A null
/// value (`~`, `null`, nothing) is the value type's empty one, as go-yaml decodes it: `A: ~`
/// in `environment` is `A=`, not `A=~`.
pub(super) fn unique_map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de> + Default,
{
    Ok(deserializer.deserialize_option(UniqueMap(std::marker::PhantomData))?.unwrap_or_default())
}

/// [`unique_map`] for a field whose absence is kept apart from an empty mapping.
pub(super) fn some_unique_map<'de, D, V>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, V>>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de> + Default,
{
    unique_map(deserializer).map(Some)
}

struct UniqueMap<V>(std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de> + Default> de::Visitor<'de> for UniqueMap<V> {
    type Value = Option<BTreeMap<String, V>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value: Option<V> = access.next_value()?;
            map.insert(key, value.unwrap_or_default());
        }
        Ok(Some(map))
    }
}

/// `os-release`: the fields of a generated `/etc/os-release`, the `OSRelease` of older apko
/// releases.
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
    fn home_dir_defaults_under_home() {
        let user = User { username: "nonroot".into(), uid: 65532, ..User::default() };
        assert_eq!(user.home_dir(), "/home/nonroot");
        let user = User { homedir: Some("/srv".into()), ..user };
        assert_eq!(user.home_dir(), "/srv");
    }
}
