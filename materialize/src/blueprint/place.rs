//! Where a value of a loaded blueprint is written, for errors found after its files were
//! merged: the plan's checks and the build see one blueprint, but the value at fault may come
//! from a file it includes, and a user looks for it by file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::Value;

use super::yaml::{self, FieldStep};

/// A blueprint file, and the line and column of a value in it when they are known. Shown as
/// `FILE:LINE:COLUMN`, or `FILE` alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line and column.
    pub at: Option<(usize, usize)>,
}

impl Place {
    /// The file alone.
    pub fn file(file: &Path) -> Self {
        Place { file: file.to_path_buf(), at: None }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match self.at {
            Some((line, column)) => write!(f, ":{line}:{column}"),
            None => Ok(()),
        }
    }
}

/// One step from a mapping or sequence towards a value.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The value of a mapping key.
    Key(&'a str),
    /// The first entry of a sequence whose `field` (with `None`, the entry itself) is the
    /// scalar `value`.
    Entry {
        /// The entry's field compared, or the entry.
        field: Option<&'a str>,
        /// What it must be.
        value: &'a str,
    },
    /// As [`Step::Entry`], the last such entry: where a repeat is.
    LastEntry {
        /// The entry's field compared, or the entry.
        field: Option<&'a str>,
        /// What it must be.
        value: &'a str,
    },
}

/// The text of every file a blueprint was read from: the blueprint first, then each file it
/// includes in the order followed, each of which gives way to the one before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFiles {
    files: Arc<[(PathBuf, String)]>,
}

impl SourceFiles {
    pub(super) fn new(files: Vec<(PathBuf, String)>) -> Self {
        SourceFiles { files: files.into() }
    }

    /// Each file with its text as read, byte for byte, the blueprint first.
    pub fn texts(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.files.iter().map(|(file, text)| (file.as_path(), text.as_str()))
    }

    /// Where the value at `steps` is written: in the first file that has it (the blueprint,
    /// whose value wins, before the files it includes), at the value or, with `key`, at its
    /// key. With `value`, a file where the value is another is passed over. `main` names the
    /// blueprint as the user gave it; when no file has the value, the place is `main` alone.
    pub fn place(&self, main: &Path, steps: &[Step<'_>], value: Option<&str>, key: bool) -> Place {
        self.find(main, |text| follow(&yaml::merged_value(text)?, steps, value))
            .map(|(file, text, path)| Place { at: yaml::locate_field(text, &path, key), file })
            .unwrap_or_else(|| Place::file(main))
    }

    /// Where entry `index` of the list at `list` is written, the lists of every file joined as
    /// merging does (the deepest include's entries first, the blueprint's last), at the
    /// entry's `field`, or at the entry itself with `None`.
    pub fn place_entry(
        &self,
        main: &Path,
        list: &[&str],
        index: usize,
        field: Option<&str>,
    ) -> Place {
        let lengths: Vec<usize> = self
            .files
            .iter()
            .map(|(_, text)| {
                let document = yaml::merged_value(text);
                let found = document.as_ref().and_then(|d| follow_keys(d, list));
                found.and_then(Value::as_sequence).map_or(0, Vec::len)
            })
            .collect();

        let mut first = 0;
        let mut owner = None;
        for (at, length) in lengths.iter().enumerate().rev() {
            if index < first + length {
                owner = Some((at, index - first));
                break;
            }
            first += length;
        }
        let Some((at, local)) = owner else { return Place::file(main) };

        let mut path: Vec<FieldStep> =
            list.iter().map(|k| FieldStep::Key((*k).to_owned())).collect();
        path.push(FieldStep::Index(local));
        path.extend(field.map(|f| FieldStep::Key(f.to_owned())));
        let (file, text) = &self.files[at];
        let file = if at == 0 { main.to_path_buf() } else { file.clone() };
        Place { at: yaml::locate_field(text, &path, false), file }
    }

    /// The first file for which `test` gives a field path, with its text; the blueprint
    /// itself is named `main`.
    fn find(
        &self,
        main: &Path,
        test: impl Fn(&str) -> Option<Vec<FieldStep>>,
    ) -> Option<(PathBuf, &str, Vec<FieldStep>)> {
        self.files.iter().enumerate().find_map(|(at, (file, text))| {
            let path = test(text)?;
            let file = if at == 0 { main.to_path_buf() } else { file.clone() };
            Some((file, text.as_str(), path))
        })
    }
}

/// The value at `keys` of `document`.
fn follow_keys<'v>(document: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    keys.iter().try_fold(document, |value, key| value.as_mapping()?.get(*key))
}

/// The field path of the value at `steps` of `document` that is `wanted` (any value with
/// `None`). Of the entries a [`Step::Entry`] matches, the first (of a [`Step::LastEntry`], the
/// last) through which the rest of the steps lead to such a value is taken: of two entries
/// named alike, the one that holds the value at fault.
fn follow(document: &Value, steps: &[Step<'_>], wanted: Option<&str>) -> Option<Vec<FieldStep>> {
    let Some((step, rest)) = steps.split_first() else {
        return wanted.is_none_or(|wanted| is(document, wanted)).then(Vec::new);
    };
    let within = |step: FieldStep, value: &Value| {
        let mut path = follow(value, rest, wanted)?;
        path.insert(0, step);
        Some(path)
    };
    match *step {
        Step::Key(key) => within(FieldStep::Key(key.to_owned()), document.as_mapping()?.get(key)?),
        Step::Entry { field, value } | Step::LastEntry { field, value } => {
            let matches = |entry: &Value| {
                let compared = match field {
                    Some(field) => entry.as_mapping().and_then(|m| m.get(field)),
                    None => Some(entry),
                };
                compared.is_some_and(|compared| is(compared, value))
            };
            let entries = document.as_sequence()?.iter().enumerate();
            let mut found = entries.filter(|(_, entry)| matches(entry));
            let mut take = |(index, entry)| within(FieldStep::Index(index), entry);
            match step {
                Step::LastEntry { .. } => found.rev().find_map(&mut take),
                Step::Entry { .. } | Step::Key(_) => found.find_map(&mut take),
            }
        }
    }
}

/// Whether `value` is the scalar a blueprint field of type string read as `text`. Such a field
/// keeps a plain scalar as written (`0x0f`, `~`), where the value read here is its number or
/// null, so `text` is also read as YAML and compared so.
fn is(value: &Value, text: &str) -> bool {
    match value {
        Value::String(own) => own == text,
        Value::Tagged(tagged) => is(&tagged.value, text),
        Value::Sequence(_) | Value::Mapping(_) => false,
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            serde_yaml::from_str::<Value>(text).is_ok_and(|read| read == *value)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    const MAIN: &str = "\
include: base.yaml
work-dir: /srv
paths:
  - path: /a
    type: directory
  - path: /b
    type: directory
accounts:
  users:
    - username: web
      uid: 1000
      homedir: srv
";

    const BASE: &str = "\
work-dir: /base
os-release:
  id: x/y
paths:
  - path: /base
    type: directory
environment:
  ONE: '1'
";

    fn files() -> SourceFiles {
        SourceFiles::new(vec![
            (PathBuf::from("/abs/main.yaml"), MAIN.to_owned()),
            (PathBuf::from("/abs/base.yaml"), BASE.to_owned()),
        ])
    }

    fn shown(place: Place) -> String {
        place.to_string()
    }

    #[test]
    fn a_value_is_placed_in_the_first_file_that_gives_it() {
        let main = Path::new("main.yaml");
        let files = files();

        // The blueprint's own value wins and is named as the user gave its file.
        assert_eq!(
            shown(files.place(main, &[Step::Key("work-dir")], None, false)),
            "main.yaml:2:11"
        );
        // A value only an include gives is placed there.
        let id = [Step::Key("os-release"), Step::Key("id")];
        assert_eq!(shown(files.place(main, &id, Some("x/y"), false)), "/abs/base.yaml:3:7");
        let env = [Step::Key("environment"), Step::Key("ONE")];
        assert_eq!(shown(files.place(main, &env, None, true)), "/abs/base.yaml:8:3");
        // A value that is not the one asked about is passed over: the include's work-dir.
        let dir = [Step::Key("work-dir")];
        assert_eq!(shown(files.place(main, &dir, Some("/base"), false)), "/abs/base.yaml:1:11");
    }

    #[test]
    fn an_entry_is_found_by_a_field() {
        let main = Path::new("main.yaml");
        let home = [
            Step::Key("accounts"),
            Step::Key("users"),
            Step::Entry { field: Some("username"), value: "web" },
            Step::Key("homedir"),
        ];
        assert_eq!(shown(files().place(main, &home, Some("srv"), false)), "main.yaml:12:16");
    }

    #[test]
    fn a_plain_scalar_is_found_by_the_text_a_string_field_keeps() {
        // A byte order mark first: the columns of the first line do not count it.
        let text = "\u{feff}stop-signal: 0x0f\nvolumes: [~, /a, ~]\nwork-dir: 1e3\n";
        let files = SourceFiles::new(vec![(PathBuf::from("m.yaml"), text.to_owned())]);
        let main = Path::new("m.yaml");
        let place = |steps: &[Step<'_>], value| shown(files.place(main, steps, value, false));

        assert_eq!(place(&[Step::Key("stop-signal")], Some("0x0f")), "m.yaml:1:14");
        assert_eq!(place(&[Step::Key("work-dir")], Some("1e3")), "m.yaml:3:11");
        assert_eq!(place(&[Step::Key("work-dir")], Some("1e4")), "m.yaml");
        // The first and the last of equal entries.
        let first = [Step::Key("volumes"), Step::Entry { field: None, value: "~" }];
        let last = [Step::Key("volumes"), Step::LastEntry { field: None, value: "~" }];
        assert_eq!(place(&first, None), "m.yaml:2:11");
        assert_eq!(place(&last, None), "m.yaml:2:18");
    }

    #[test]
    fn of_entries_named_alike_the_one_holding_the_value_is_taken() {
        let text = "users:\n  - {username: u, uid: 1}\n  - {username: u, uid: 2, homedir: rel}\n  \
                    - {username: u, uid: 2}\n";
        let files = SourceFiles::new(vec![(PathBuf::from("m.yaml"), text.to_owned())]);
        let at = |entry, field, value| {
            let steps = [Step::Key("users"), entry, Step::Key(field)];
            shown(files.place(Path::new("m.yaml"), &steps, Some(value), false))
        };
        let first = Step::Entry { field: Some("username"), value: "u" };
        let last = Step::LastEntry { field: Some("username"), value: "u" };

        assert_eq!(at(first, "homedir", "rel"), "m.yaml:3:36");
        assert_eq!(at(first, "uid", "2"), "m.yaml:3:24");
        assert_eq!(at(last, "uid", "2"), "m.yaml:4:24");
        assert_eq!(at(last, "uid", "1"), "m.yaml:2:24");
        assert_eq!(at(first, "uid", "3"), "m.yaml");
    }

    #[test]
    fn a_merged_list_entry_is_placed_in_its_file() {
        let main = Path::new("main.yaml");
        let files = files();

        // Merged `paths`: the include's /base first, then the blueprint's /a and /b.
        let place = |index| shown(files.place_entry(main, &["paths"], index, Some("path")));
        assert_eq!(place(0), "/abs/base.yaml:5:11");
        assert_eq!(place(1), "main.yaml:4:11");
        assert_eq!(place(2), "main.yaml:6:11");
        assert_eq!(place(3), "main.yaml");
    }

    #[test]
    fn what_no_file_has_is_placed_at_the_blueprint_alone() {
        let main = Path::new("main.yaml");
        let files = files();
        let missing = [Step::Key("os-release"), Step::Key("name")];
        assert_eq!(shown(files.place(main, &missing, None, false)), "main.yaml");
        let other = [Step::Key("os-release"), Step::Key("id")];
        assert_eq!(shown(files.place(main, &other, Some("z"), false)), "main.yaml");
        assert_eq!(shown(SourceFiles::default().place(main, &other, None, false)), "main.yaml");
    }

    #[test]
    fn merge_keys_are_followed_and_placed_where_the_value_is_written() {
        let text = "\
base: &base
  work-dir: rel
image:
  <<: *base
";
        // Not a blueprint, but the walk is the same for any document.
        let files = SourceFiles::new(vec![(PathBuf::from("m.yaml"), text.to_owned())]);
        let dir = [Step::Key("image"), Step::Key("work-dir")];
        assert_eq!(
            shown(files.place(Path::new("m.yaml"), &dir, Some("rel"), false)),
            "m.yaml:2:13"
        );
    }
}
