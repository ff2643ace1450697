//! `etc/os-release` from a blueprint's `os-release`, as the apko releases that read the key
//! write it (newer ones dropped it).
//!
//! The fields left out take apko's defaults. A package's `etc/os-release` stays when the
//! blueprint names no system (no `name`); otherwise the file is written, through a symlink
//! where the package made one, as apko's `os.Create` writes through it. When it is written,
//! `etc/ID-release` is written too, holding `VERSION_ID`.

use flatroot_vfs::{Follow, Lossy, Node, NodeId, NodeKind, Tree};

use super::generate::{self, GenerateError};
use super::installed::InstalledPackage;

/// apko's `NAME` and `PRETTY_NAME` when the blueprint gives no `name`.
pub const DEFAULT_NAME: &str = "apko-generated image";

/// apko's `ID` and `VERSION_ID` when the blueprint gives none.
pub const UNKNOWN: &str = "unknown";

/// apko's `HOME_URL` when the blueprint gives none.
pub const DEFAULT_HOME_URL: &str = "https://github.com/chainguard-dev/apko";

/// The fields of a blueprint's `os-release`; an empty string is a field left out, as apko
/// reads one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID=`, also the name of `etc/ID-release`.
    pub id: String,
    /// `NAME=`.
    pub name: String,
    /// `PRETTY_NAME=`.
    pub pretty_name: String,
    /// `VERSION_ID=`, also the content of `etc/ID-release`.
    pub version_id: String,
    /// `HOME_URL=`.
    pub home_url: String,
    /// `BUG_REPORT_URL=`.
    pub bug_report_url: String,
}

impl OsRelease {
    /// The fields as apko completes them: `ID` and `VERSION_ID` `unknown`, `HOME_URL` apko's
    /// project page, and without a `name` both `NAME` and `PRETTY_NAME` the placeholder
    /// [`DEFAULT_NAME`] (a `pretty-name` given alone is dropped, as apko drops it).
    pub fn completed(&self) -> OsRelease {
        let or = |value: &str, default: &str| {
            if value.is_empty() { default.to_string() } else { value.to_string() }
        };
        let named = !self.name.is_empty();
        OsRelease {
            id: or(&self.id, UNKNOWN),
            name: or(&self.name, DEFAULT_NAME),
            pretty_name: if named { self.pretty_name.clone() } else { DEFAULT_NAME.to_string() },
            version_id: or(&self.version_id, UNKNOWN),
            home_url: or(&self.home_url, DEFAULT_HOME_URL),
            bug_report_url: self.bug_report_url.clone(),
        }
    }

    /// The text of `etc/os-release` for these fields as given (see [`Self::completed`]):
    /// a line for each field that is set, in apko's order. `ID` and `VERSION_ID` are bare
    /// where the shell needs no quotes, the others always quoted; a quote, backslash, `$` or
    /// backquote in a value is escaped, as the os-release format asks (apko writes them raw).
    pub fn text(&self) -> String {
        let fields = [
            ("ID", &self.id, false),
            ("NAME", &self.name, true),
            ("PRETTY_NAME", &self.pretty_name, true),
            ("VERSION_ID", &self.version_id, false),
            ("HOME_URL", &self.home_url, true),
            ("BUG_REPORT_URL", &self.bug_report_url, true),
        ];
        let mut text = String::new();
        for (key, value, quoted) in fields {
            if value.is_empty() {
                continue;
            }
            if quoted || !value.chars().all(is_bare) {
                text.push_str(&format!("{key}=\"{}\"\n", escape(value)));
            } else {
                text.push_str(&format!("{key}={value}\n"));
            }
        }
        text
    }
}

/// Whether `c` needs no quoting in a shell word.
fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-+:".contains(c)
}

/// `value` with the characters special inside double quotes escaped by a backslash.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Whether [`write`] wrote the files or left a package's `etc/os-release` as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `etc/os-release` and `etc/ID-release` were written.
    Written,
    /// A package's `etc/os-release` stays: the blueprint names no system.
    KeptPackages,
}

/// Writes `etc/os-release` and `etc/ID-release` for a blueprint's `os-release` (see the
/// module documentation), stamped with `time`, root-owned and 0644 where they are new.
///
/// Errors: [`GenerateError::Blocked`] when a package's non-directory stands where `etc`
/// must be, [`GenerateError::Occupied`] when either path leads to a directory, device node
/// or FIFO, [`GenerateError::Dangling`] when either is a symlink that leads to no file, and
/// [`GenerateError::Clash`] when `etc/ID-release` leads to the `etc/os-release` just written.
pub fn write(
    tree: &mut Tree,
    given: &OsRelease,
    installed: &[InstalledPackage],
    time: i64,
) -> Result<Outcome, GenerateError> {
    let fields = given.completed();
    let present = tree.lookup(b"etc/os-release", Follow::Final).is_ok();
    if present && fields.name == DEFAULT_NAME {
        return Ok(Outcome::KeptPackages);
    }

    let vendor_file = format!("etc/{}-release", fields.id);
    let files = [
        ("etc/os-release", fields.text()),
        (vendor_file.as_str(), format!("{}\n", fields.version_id)),
    ];
    let mut os_release = None;
    for (path, text) in files {
        let there = existing(tree, path)?;
        if there.is_some() && there == os_release {
            let path = path.to_string();
            return Err(GenerateError::Clash { path, other: "etc/os-release" });
        }
        generate::replace_content(tree, path, text.into_bytes(), 0o644, time)
            .map_err(|error| generate::name_blocker(tree, error, installed))?;
        os_release = os_release.or_else(|| tree.lookup(path.as_bytes(), Follow::Final).ok());
    }
    Ok(Outcome::Written)
}

/// The file `path` leads to, if one is there; an error where no file can be written: at
/// anything but a regular file, or through a symlink that leads to nothing (apko's
/// `os.Create` would make the file the symlink names, or fail where its directory is
/// missing).
fn existing(tree: &Tree, path: &str) -> Result<Option<NodeId>, GenerateError> {
    match tree.lookup(path.as_bytes(), Follow::Final) {
        Ok(id) => {
            // A directory, a device node, a FIFO: nothing a file's content can replace.
            let kind = match tree.node(id).kind {
                NodeKind::File(_) => return Ok(Some(id)),
                NodeKind::CharDevice { .. } => "character device",
                NodeKind::BlockDevice { .. } => "block device",
                NodeKind::Fifo => "FIFO",
                NodeKind::Directory(_) | NodeKind::Symlink(_) => "directory",
            };
            Err(GenerateError::Occupied { path: path.to_string(), kind })
        }
        Err(_) => match tree.lookup(path.as_bytes(), Follow::NotFinal).map(|id| tree.node(id)) {
            Ok(Node { kind: NodeKind::Symlink(target), .. }) => Err(GenerateError::Dangling {
                path: path.to_string(),
                target: Lossy(target.to_vec()),
            }),
            _ => Ok(None),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use flatroot_vfs::{Content, Metadata};

    use super::*;

    fn tree() -> Tree {
        Tree::new(Metadata::directory(0o755))
    }

    fn text_of(tree: &Tree, path: &str) -> String {
        let id = tree.lookup(path.as_bytes(), Follow::Final).unwrap();
        match &tree.node(id).kind {
            NodeKind::File(content) => String::from_utf8(content.bytes().to_vec()).unwrap(),
            other => panic!("{path} is {other:?}"),
        }
    }

    fn add_file(tree: &mut Tree, path: &str, text: &str, mode: u32) {
        let parent = path.rsplit_once('/').unwrap().0;
        tree.insert_dir_all(parent.as_bytes(), Metadata::directory(0o755)).unwrap();
        let content = Content::from_vec(text.as_bytes().to_vec());
        tree.insert_file(path.as_bytes(), Metadata::file(mode), content).unwrap();
    }

    fn wolfi() -> OsRelease {
        OsRelease {
            id: "wolfi".into(),
            name: "Wolfi".into(),
            pretty_name: "Wolfi OS".into(),
            version_id: "20230201".into(),
            home_url: "https://wolfi.dev".into(),
            bug_report_url: "https://github.com/wolfi-dev/os/issues".into(),
        }
    }

    #[test]
    fn every_field_given_is_written_in_apkos_order_and_quoting() {
        let expected = "ID=wolfi\nNAME=\"Wolfi\"\nPRETTY_NAME=\"Wolfi OS\"\nVERSION_ID=20230201\n\
                        HOME_URL=\"https://wolfi.dev\"\n\
                        BUG_REPORT_URL=\"https://github.com/wolfi-dev/os/issues\"\n";
        assert_eq!(wolfi().completed().text(), expected);
    }

    #[test]
    fn fields_left_out_take_apkos_defaults_and_a_lone_pretty_name_is_dropped() {
        let given = OsRelease { pretty_name: "Mine".into(), ..OsRelease::default() };
        let expected = format!(
            "ID=unknown\nNAME=\"{DEFAULT_NAME}\"\nPRETTY_NAME=\"{DEFAULT_NAME}\"\n\
             VERSION_ID=unknown\nHOME_URL=\"{DEFAULT_HOME_URL}\"\n"
        );
        assert_eq!(given.completed().text(), expected);

        let named = OsRelease { name: "Acme".into(), ..OsRelease::default() };
        let text = named.completed().text();
        assert!(!text.contains("PRETTY_NAME"), "a name without pretty-name has none: {text}");
        assert!(text.contains("NAME=\"Acme\"\n"), "{text}");
    }

    #[test]
    fn values_the_shell_would_misread_are_quoted_and_escaped() {
        let given = OsRelease {
            id: "my os".into(),
            name: "say \"hi\" $HOME `x` \\".into(),
            version_id: "1.0~rc1".into(),
            ..OsRelease::default()
        };
        let text = given.completed().text();
        assert!(text.starts_with("ID=\"my os\"\n"), "{text}");
        assert!(text.contains("NAME=\"say \\\"hi\\\" \\$HOME \\`x\\` \\\\\"\n"), "{text}");
        assert!(text.contains("VERSION_ID=\"1.0~rc1\"\n"), "{text}");
    }

    #[test]
    fn a_named_system_replaces_the_packages_file_and_writes_the_vendor_file() {
        let mut tree = tree();
        add_file(&mut tree, "etc/os-release", "ID=alpine\n", 0o640);
        let outcome = write(&mut tree, &wolfi(), &[], 1_700_000_000).unwrap();

        assert_eq!(outcome, Outcome::Written);
        assert_eq!(text_of(&tree, "etc/os-release"), wolfi().completed().text());
        assert_eq!(text_of(&tree, "etc/wolfi-release"), "20230201\n");
        let id = tree.lookup(b"etc/os-release", Follow::Final).unwrap();
        assert_eq!(tree.node(id).meta.mode & 0o7777, 0o640, "a rewritten file keeps its mode");
        let id = tree.lookup(b"etc/wolfi-release", Follow::Final).unwrap();
        assert_eq!(tree.node(id).meta.mode & 0o7777, 0o644);
        assert_eq!(tree.node(id).meta.mtime.secs, 1_700_000_000);
    }

    #[test]
    fn without_a_name_a_packages_file_stays_and_no_vendor_file_is_made() {
        let mut tree = tree();
        add_file(&mut tree, "etc/os-release", "ID=alpine\n", 0o644);
        let given = OsRelease { id: "acme".into(), version_id: "1".into(), ..wolfi() };
        let given = OsRelease { name: String::new(), ..given };
        let outcome = write(&mut tree, &given, &[], 0).unwrap();

        assert_eq!(outcome, Outcome::KeptPackages);
        assert_eq!(text_of(&tree, "etc/os-release"), "ID=alpine\n");
        assert!(tree.lookup(b"etc/acme-release", Follow::NotFinal).is_err());
    }

    #[test]
    fn without_a_packages_file_the_placeholder_is_written() {
        let mut tree = tree();
        let given = OsRelease { version_id: "7".into(), ..OsRelease::default() };
        assert_eq!(write(&mut tree, &given, &[], 0).unwrap(), Outcome::Written);

        assert!(text_of(&tree, "etc/os-release").contains(DEFAULT_NAME));
        assert_eq!(text_of(&tree, "etc/unknown-release"), "7\n");
    }

    #[test]
    fn a_symlinked_os_release_is_written_through() {
        let mut tree = tree();
        add_file(&mut tree, "usr/lib/os-release", "ID=alpine\n", 0o644);
        tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
        let target = b"../usr/lib/os-release";
        tree.insert_symlink(b"etc/os-release", Metadata::new(0o777), target).unwrap();

        write(&mut tree, &wolfi(), &[], 0).unwrap();
        let id = tree.lookup(b"etc/os-release", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(id).kind, NodeKind::Symlink(_)), "the symlink stays");
        assert_eq!(text_of(&tree, "usr/lib/os-release"), wolfi().completed().text());
    }

    #[test]
    fn a_symlink_that_leads_nowhere_is_an_error_naming_its_target() {
        let mut tree = tree();
        tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
        let target = b"../usr/lib/os-release";
        tree.insert_symlink(b"etc/os-release", Metadata::new(0o777), target).unwrap();

        let message = write(&mut tree, &wolfi(), &[], 0).unwrap_err().to_string();
        assert!(message.contains("etc/os-release") && message.contains(".."), "{message}");
        let id = tree.lookup(b"etc/os-release", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(id).kind, NodeKind::Symlink(_)), "nothing replaced it");
    }

    #[test]
    fn a_version_file_leading_to_os_release_is_an_error() {
        let mut tree = tree();
        tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
        tree.insert_symlink(b"etc/wolfi-release", Metadata::new(0o777), b"os-release").unwrap();

        let message = write(&mut tree, &wolfi(), &[], 0).unwrap_err().to_string();
        let said = "etc/wolfi-release: it and etc/os-release lead to the same file";
        assert!(message.contains(said), "{message}");
    }

    #[test]
    fn a_directory_or_device_in_the_way_is_an_error_naming_the_path() {
        let mut tree = tree();
        tree.insert_dir_all(b"etc/wolfi-release", Metadata::directory(0o755)).unwrap();
        let message = write(&mut tree, &wolfi(), &[], 0).unwrap_err().to_string();
        let named = message.contains("etc/wolfi-release") && message.contains("a directory");
        assert!(named, "{message}");

        let mut tree = self::tree();
        tree.insert_dir_all(b"dev", Metadata::directory(0o755)).unwrap();
        let kind = NodeKind::CharDevice { major: 1, minor: 3 };
        tree.insert(b"dev/null", Node { kind, meta: Metadata::new(0o666) }).unwrap();
        tree.insert_dir_all(b"etc", Metadata::directory(0o755)).unwrap();
        tree.insert_symlink(b"etc/os-release", Metadata::new(0o777), b"../dev/null").unwrap();
        let message = write(&mut tree, &wolfi(), &[], 0).unwrap_err().to_string();
        let named = message.contains("etc/os-release") && message.contains("character device");
        assert!(named, "{message}");
        let id = tree.lookup(b"etc/os-release", Follow::NotFinal).unwrap();
        assert!(matches!(tree.node(id).kind, NodeKind::Symlink(_)), "the symlink stays");
    }
}
