//! Images of a layout picked by name: `DIR:NAME`, as skopeo's and umoci's `oci:DIR:NAME`
//! write it, names the images a layout's `index.json` lists under the
//! `org.opencontainers.image.ref.name` NAME. A layout holding images of one platform under
//! several names is refused unless a name picks one, so that no command silently reads the
//! first of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ImageReadError, ImageView, open_with};
use crate::apk::datatar::Limits;

/// What `DIR:NAME` names when `arg` itself does not exist: the layout directory DIR (the
/// part before the last `:`) and the NAME after it, which is not empty and holds no `/`.
/// `None` for anything else, such as an existing path or a registry reference.
pub fn split_named(arg: &Path) -> Option<(PathBuf, String)> {
    if arg.exists() {
        return None;
    }
    let (dir, name) = arg.to_str()?.rsplit_once(':')?;
    let usable = !name.is_empty() && !name.contains('/') && Path::new(dir).is_dir();
    usable.then(|| (PathBuf::from(dir), name.to_string()))
}

/// The images `arg` names: every image [`open_with`] reads from the path `arg`, or for
/// `DIR:NAME` (see [`split_named`]) those of the layout DIR named NAME (all its platforms).
///
/// # Errors
/// As [`open_with`]; [`ImageReadError::NoSuchName`] when the layout holds no image named
/// NAME; [`ImageReadError::SeveralNamed`] when, without a name, images of one platform come
/// under different names (or with and without one).
pub fn open_arg(arg: &Path, limits: &Limits) -> Result<Vec<ImageView>, ImageReadError> {
    let Some((dir, name)) = split_named(arg) else {
        let views = open_with(arg, limits)?;
        check_one_name_per_platform(arg, &views)?;
        return Ok(views);
    };

    let views = open_with(&dir, limits)?;
    let names = distinct_names(&views);
    let named: Vec<ImageView> =
        views.into_iter().filter(|v| v.name.as_deref() == Some(name.as_str())).collect();
    if named.is_empty() {
        return Err(ImageReadError::NoSuchName { path: dir, name, names });
    }
    Ok(named)
}

/// The names of `views`, each once, in order.
fn distinct_names(views: &[ImageView]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in views.iter().filter_map(|v| v.name.clone()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn check_one_name_per_platform(path: &Path, views: &[ImageView]) -> Result<(), ImageReadError> {
    let mut by_platform: BTreeMap<String, Vec<Option<&str>>> = BTreeMap::new();
    for view in views {
        let platform = match &view.variant {
            Some(variant) => format!("{}/{variant}", view.arch),
            None => view.arch.clone(),
        };
        let names = by_platform.entry(platform).or_default();
        if !names.contains(&view.name.as_deref()) {
            names.push(view.name.as_deref());
        }
    }

    match by_platform.into_iter().find(|(_, names)| names.len() > 1) {
        None => Ok(()),
        Some((platform, names)) => Err(ImageReadError::SeveralNamed {
            path: path.to_path_buf(),
            platform,
            names: names.iter().map(|n| n.unwrap_or("(no name)").to_string()).collect(),
        }),
    }
}
