//! Images picked by name: `PATH:NAME`, as skopeo's `oci:DIR:NAME` and
//! `docker-archive:FILE:NAME` write it, names the images of the layout (or archive) at PATH
//! listed under the `org.opencontainers.image.ref.name` NAME, or a docker-archive's images
//! tagged NAME (`RepoTags`). Images of one platform under several names are refused unless
//! a name picks one, so that no command silently reads the first of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ImageReadError, ImageView, open_with};
use crate::apk::datatar::Limits;

/// What `PATH:NAME` names when `arg` itself does not exist: the longest part before a `:`
/// that is a file or a directory with an `index.json`, and the non-empty NAME after that
/// `:`. `None` for anything else, such as an existing path or a registry reference.
pub fn split_named(arg: &Path) -> Option<(PathBuf, String)> {
    if arg.exists() {
        return None;
    }
    let text = arg.to_str()?;
    text.rmatch_indices(':').find_map(|(at, _)| {
        let (path, name) = (&text[..at], &text[at + 1..]);
        let image = Path::new(path).is_file() || Path::new(path).join("index.json").is_file();
        let usable = !path.is_empty() && !name.is_empty() && image;
        usable.then(|| (PathBuf::from(path), name.to_string()))
    })
}

/// The images `arg` names: every image [`open_with`] reads from the path `arg`, or for
/// `PATH:NAME` (see [`split_named`]) those of PATH named NAME (all their platforms).
///
/// # Errors
/// As [`open_with`]; [`ImageReadError::NoSuchName`] when PATH holds no image named NAME;
/// [`ImageReadError::SeveralNamed`] when, without a name, images of one platform come under
/// different names (or with and without one).
pub fn open_arg(arg: &Path, limits: &Limits) -> Result<Vec<ImageView>, ImageReadError> {
    let Some((path, name)) = split_named(arg) else {
        let views = open_with(arg, limits)?;
        check_one_name_per_platform(arg, &views)?;
        return Ok(views);
    };

    let views = open_with(&path, limits)?;
    let names = distinct_names(&views);
    let named: Vec<ImageView> = views.into_iter().filter(|v| v.names.contains(&name)).collect();
    if named.is_empty() {
        return Err(ImageReadError::NoSuchName { path, name, names });
    }
    Ok(named)
}

/// The names of `views`, each once, in order.
fn distinct_names(views: &[ImageView]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in views.iter().flat_map(|v| &v.names) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

fn check_one_name_per_platform(path: &Path, views: &[ImageView]) -> Result<(), ImageReadError> {
    let mut by_platform: BTreeMap<String, Vec<&[String]>> = BTreeMap::new();
    for view in views {
        let platform = match &view.variant {
            Some(variant) => format!("{}/{variant}", view.arch),
            None => view.arch.clone(),
        };
        let names = by_platform.entry(platform).or_default();
        if !names.contains(&view.names.as_slice()) {
            names.push(&view.names);
        }
    }

    match by_platform.into_iter().find(|(_, names)| names.len() > 1) {
        None => Ok(()),
        Some((platform, names)) => Err(ImageReadError::SeveralNamed {
            path: path.to_path_buf(),
            platform,
            names: names
                .iter()
                .map(|n| n.first().map_or("(no name)", String::as_str).to_string())
                .collect(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests panic on failure")]
mod tests {
    use super::*;

    #[test]
    fn path_name_splits_after_the_longest_image_path_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let at = |rest: &str| dir.path().join(rest);
        std::fs::create_dir_all(at("layout")).unwrap();
        std::fs::write(at("layout/index.json"), b"{}").unwrap();
        std::fs::write(at("a.tar"), b"").unwrap();
        std::fs::write(at("a.tar:web"), b"").unwrap();
        std::fs::create_dir(at("plain")).unwrap();
        let split = |rest: &str| split_named(&at(rest));

        assert_eq!(split("layout:one"), Some((at("layout"), "one".to_string())));
        assert_eq!(split("layout:a/b:c"), Some((at("layout"), "a/b:c".to_string())));
        // The longest path that is an image wins: `a.tar:web` exists as a file.
        assert_eq!(split("a.tar:web:v1"), Some((at("a.tar:web"), "v1".to_string())));
        assert_eq!(split("a.tar:other:v1"), Some((at("a.tar"), "other:v1".to_string())));
        // Not a name: an existing path, an empty name, a directory that is no layout, a
        // path that does not exist (a registry reference reads so).
        assert_eq!(split("a.tar:web"), None);
        assert_eq!(split("layout:"), None);
        assert_eq!(split("plain:one"), None);
        assert_eq!(split_named(Path::new("localhost:5000/name:tag")), None);
    }
}
