//! What a blueprint gives inline for the image to trust, checked: `contents.runtime_keyring`
//! keys and `certificates.additional` certificates, each under a plain file name.

use std::path::Path;

use super::PlanError;
use crate::apk::signature::canonical_public_key_pem;
use crate::blueprint::{self, Blueprint, Place, SourceFiles, Step};
use crate::rootfs::certificates::{self, Certificates};
use crate::rootfs::generate::RuntimeKey;

/// The keys of `contents.runtime_keyring`, by name, in SubjectPublicKeyInfo PEM: each name
/// a plain file name, each text one RSA public key, a name given twice the same key.
pub(super) fn runtime_keys(
    bp: &Blueprint,
    sources: &SourceFiles,
    source: &Path,
) -> Result<Vec<RuntimeKey>, PlanError> {
    let list = ("contents", "runtime_keyring");
    let mut keys: Vec<RuntimeKey> = Vec::new();
    for entry in bp.contents.runtime_keyring.iter().flatten() {
        let file = entry.file_or(source);
        let refuse = |at: Part, reason: String| PlanError::RuntimeKey {
            blueprint: place_entry(sources, source, list, entry, at),
            name: entry.name.clone(),
            reason,
        };
        check_key_name(&entry.name)
            .map_err(|e| refuse(Part::Name, format!("not a key file name: {e}")))?;
        let blocks = crate::pem::block_count(&entry.content);
        if blocks != 1 {
            let found = format!("the content holds {blocks} PEM blocks; expected one public key");
            return Err(refuse(Part::Content, found));
        }
        let pem = canonical_public_key_pem(&entry.name, &entry.content)
            .map_err(|e| refuse(Part::Content, crate::error_chain(&e)))?;

        match keys.iter().find(|key| key.name == entry.name) {
            Some(first) if first.pem != pem => {
                return Err(refuse(Part::Repeat, "named twice, with different keys".to_string()));
            }
            Some(_) => {}
            None => {
                let place = place_entry(sources, source, list, entry, Part::Name);
                let place = if place.at.is_some() { place } else { Place::file(&file) };
                keys.push(RuntimeKey { name: entry.name.clone(), pem, place: place.to_string() });
            }
        }
    }
    Ok(keys)
}

/// `certificates`: each additional certificate checked, under a plain file name; an entry
/// given twice alike (a blueprint and one it includes) is one.
pub(super) fn certificates(
    bp: &Blueprint,
    sources: &SourceFiles,
    source: &Path,
) -> Result<Certificates, PlanError> {
    let Some(given) = &bp.certificates else { return Ok(Certificates::default()) };
    let mut additional: Vec<(String, certificates::Certificate)> = Vec::new();
    for entry in &given.additional {
        let refuse = |at: Part, reason: String| PlanError::Certificate {
            blueprint: place_entry(sources, source, ("certificates", "additional"), entry, at),
            name: entry.name.clone(),
            reason,
        };
        check_key_name(&entry.name)
            .map_err(|e| refuse(Part::Name, format!("not a file name: {e}")))?;
        if entry.name.len() > certificates::MAX_NAME_LEN {
            let most = certificates::MAX_NAME_LEN;
            let why = format!("longer than {most} bytes, so NAME-SHA256.crt is no file name");
            return Err(refuse(Part::Name, why));
        }
        let parsed = certificates::parse(&entry.content)
            .map_err(|e| refuse(Part::Content, e.to_string()))?;

        let named = (entry.name.clone(), parsed);
        if !additional.contains(&named) {
            additional.push(named);
        }
    }
    Ok(Certificates { additional, providers: given.providers.clone() })
}

/// What of an inline file entry an error is about.
#[derive(Clone, Copy)]
enum Part {
    /// Its name.
    Name,
    /// Its content.
    Content,
    /// Its content, under a name given before with another: this entry's content.
    Repeat,
}

/// Where `part` of `entry`, in the list `section.list`, is written.
fn place_entry(
    sources: &SourceFiles,
    main: &Path,
    (section, list): (&str, &str),
    entry: &blueprint::InlineFile,
    part: Part,
) -> Place {
    let found = Step::Entry { field: Some("name"), value: &entry.name };
    let (key, value) = match part {
        Part::Name => ("name", None),
        Part::Content => ("content", None),
        Part::Repeat => ("content", Some(entry.content.as_str())),
    };
    let steps = [Step::Key(section), Step::Key(list), found, Step::Key(key)];
    let place = sources.place(main, &steps, value, false);
    if place.at.is_some() {
        return place;
    }
    // A content left out is placed at the entry's name.
    let steps = [Step::Key(section), Step::Key(list), found, Step::Key("name")];
    sources.place(main, &steps, None, false)
}

/// Checks that `name` can be a file of `etc/apk/keys` as apk names keys: ASCII letters,
/// digits and `._+@-`, not starting with a dot, at most 255 bytes.
fn check_key_name(name: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._+@-".contains(c);
    if name.is_empty() {
        return Err("expected a file name, not nothing");
    }
    if name.len() > 255 {
        return Err("expected a file name of at most 255 bytes");
    }
    if name.starts_with('.') || !name.chars().all(allowed) {
        return Err(
            "expected a file name of ASCII letters, digits and ._+@- that does not start with '.'",
        );
    }
    Ok(())
}
