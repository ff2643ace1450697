//! Finds where a field of a document that uses merge keys is written.
//!
//! An error in such a document comes from its merged form, whose lines are not the file's.
//! The field path the error names (`accounts.users[1].uid`) is looked up in the original
//! text instead: the text is read again with a visitor that follows the path and fails on
//! the value (or key) it names, so that the parser, which marks every failure with the
//! position of the event it was reading, says where that is. A field inherited through `<<`
//! is found in the mapping merged in, which the parser reads at its anchor: the position is
//! where the value is written.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The message of the failure that marks the place looked for.
const FOUND: &str = "flatroot: the field looked for";

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// The 1-based line and column where `path` (serde_yaml's spelling: keys joined by `.`,
/// indices in brackets) is written in `text`: of its value, or with `key` of the key itself.
/// None when the path cannot be followed (a key holding `.` or `[`, a path through a list of
/// merged mappings the parser cannot find).
pub(super) fn locate(text: &str, path: &str, key: bool) -> Option<(usize, usize)> {
    locate_steps(text, &steps(path)?, key)
}

/// As [`locate`], for a path given as steps: a key may hold any character.
pub(crate) fn locate_steps(text: &str, steps: &[Step], key: bool) -> Option<(usize, usize)> {
    // A field the mapping gives itself wins over a merged one: look for it first.
    for through_merges in [false, true] {
        let seek = Seek { steps, key, through_merges };
        let deserializer = serde_yaml::Deserializer::from_str(text);
        let Err(error) = seek.deserialize(deserializer) else { continue };
        if error.to_string().contains(FOUND) {
            let location = error.location()?;
            return Some((location.line(), location.column()));
        }
    }
    None
}

/// `path` split into steps; None when it is empty or malformed.
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, indices) = part.split_once('[').map_or((part, ""), |(n, rest)| (n, rest));
        if !name.is_empty() {
            steps.push(Step::Key(name.to_owned()));
        }
        if !indices.is_empty() {
            for index in indices.strip_suffix(']')?.split("][") {
                steps.push(Step::Index(index.parse().ok()?));
            }
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// Follows `steps` and fails with [`FOUND`] where they end.
#[derive(Clone, Copy)]
struct Seek<'a> {
    steps: &'a [Step],
    key: bool,
    through_merges: bool,
}

fn found<E: de::Error>() -> E {
    E::custom(FOUND)
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(want), rest)) = self.steps.split_first() else {
            return if self.steps.is_empty() { Err(found()) } else { Ok(()) };
        };
        let at_key = self.key && rest.is_empty();
        while let Some(name) = map.next_key_seed(KeyName { want, fail: at_key })? {
            if name == *want {
                return map.next_value_seed(Seek { steps: rest, ..self });
            }
            if name == "<<" && self.through_merges {
                // The merged mapping (or list of them) is searched for the same key.
                map.next_value_seed(Merged(self))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(want), rest)) = self.steps.split_first() else {
            return if self.steps.is_empty() { Err(found()) } else { Ok(()) };
        };
        for _ in 0..*want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Seek { steps: rest, ..self }).map(|_| ())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!!int 5`): the tag is the place, as the value is.
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

impl Seek<'_> {
    /// A scalar is the place when the path ends here, and a dead end otherwise.
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.steps.is_empty() { Err(found()) } else { Ok(()) }
    }
}

/// The operand of a merge key: a mapping, searched as the one it is merged into would be,
/// or a list of mappings, searched in order.
struct Merged<'a>(Seek<'a>);

impl<'de> DeserializeSeed<'de> for Merged<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Merged<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a list of mappings")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self.0)?.is_some() {}
        Ok(())
    }
}

/// A mapping key read as text, failing with [`FOUND`] when it is `want` and `fail` is set.
struct KeyName<'a> {
    want: &'a str,
    fail: bool,
}

impl<'de> DeserializeSeed<'de> for KeyName<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyName<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<String, E> {
        if self.fail && name == self.want { Err(found()) } else { Ok(name.to_owned()) }
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    const TEXT: &str = "\
base: &base
  uid: 7
  shell: /bin/ash
extra: &extra
  gid: 9
accounts:
  users:
    - username: a
    - <<: [*base, *extra]
      username: b
      uid: 8
    - <<: *base
      username: c
";

    #[test]
    fn paths_split_into_keys_and_indices() {
        let expected = vec![
            Step::Key("accounts".into()),
            Step::Key("users".into()),
            Step::Index(1),
            Step::Key("uid".into()),
        ];
        assert_eq!(steps("accounts.users[1].uid"), Some(expected));
        assert_eq!(
            steps("a[0][2]"),
            Some(vec![Step::Key("a".into()), Step::Index(0), Step::Index(2)])
        );
        assert_eq!(steps(""), None);
        assert_eq!(steps("a[x]"), None);
    }

    #[test]
    fn a_value_the_mapping_gives_itself_is_placed_where_it_is_written() {
        assert_eq!(locate(TEXT, "accounts.users[1].uid", false), Some((11, 12)));
        assert_eq!(locate(TEXT, "accounts.users[0].username", false), Some((8, 17)));
        assert_eq!(locate(TEXT, "accounts.users[1].username", true), Some((10, 7)));
    }

    #[test]
    fn an_inherited_value_is_placed_at_its_anchor() {
        assert_eq!(locate(TEXT, "accounts.users[2].uid", false), Some((2, 8)));
        assert_eq!(locate(TEXT, "accounts.users[1].shell", false), Some((3, 10)));
        assert_eq!(locate(TEXT, "accounts.users[1].gid", false), Some((5, 8)));
    }

    #[test]
    fn a_merge_key_itself_can_be_placed() {
        assert_eq!(locate(TEXT, "accounts.users[1].<<", true), Some((9, 7)));
        assert_eq!(locate(TEXT, "accounts.users[2].<<", true), Some((12, 7)));
    }

    #[test]
    fn a_path_that_leads_nowhere_has_no_place() {
        assert_eq!(locate(TEXT, "accounts.users[3].uid", false), None);
        assert_eq!(locate(TEXT, "accounts.groups", false), None);
        assert_eq!(locate(TEXT, "accounts.users[0].uid", false), None);
        assert_eq!(locate("[", "a", false), None);
    }
}
