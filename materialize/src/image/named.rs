//! Images picked by name: `PATH:NAME`, as skopeo's `oci:DIR:NAME` and
//! `docker-archive:FILE:NAME` write it, names the images of the layout (or archive) at PATH
//! listed under the `org.opencontainers.image.ref.name` NAME, or a docker-archive's images
//! tagged NAME (`RepoTags`), or the images under the digest NAME.

use std::path::{Path, PathBuf};

use super::{ImageReadError, ImageView, open_with};
use crate::apk::datatar::Limits;

/// What `PATH:NAME` names when `arg` itself does not exist: the longest part before a `:`
/// that is a directory with an `index.json` or a file other than a blueprint or lock
/// (`.yaml`, `.yml`, `.json`), and the non-empty NAME after that `:`. `None` for anything
/// else, such as an existing path or a registry reference.
pub fn split_named(arg: &Path) -> Option<(PathBuf, String)> {
    if arg.exists() {
        return None;
    }
    let text = arg.to_str()?;
    // A registry reference's `HOST:PORT` is no path and name, whatever lies in the working
    // directory under the host's name; but a `PATH:NAME` whose NAME holds a `/` (as
    // `x.tar:docker.io/library/one:a`) has no port, and is split.
    let is_reference = crate::registry::Reference::parse(text).is_ok() || text.contains("://");
    let host_end = text.find('/').filter(|_| is_reference);
    text.rmatch_indices(':').filter(|(at, _)| host_end.is_none_or(|end| *at > end)).find_map(
        |(at, _)| {
            let (path, name) = (&text[..at], &text[at + 1..]);
            let usable = !path.is_empty() && !name.is_empty() && may_hold_names(Path::new(path));
            usable.then(|| (PathBuf::from(path), name.to_string()))
        },
    )
}

/// Whether `path` is a layout (a directory with an `index.json`) or a file other than a
/// blueprint or lock: a blueprint holds no named image, so `bp.yaml:x` is no name of it.
fn may_hold_names(path: &Path) -> bool {
    let document = ["yaml", "yml", "json"];
    let file =
        path.is_file() && !path.extension().is_some_and(|e| document.iter().any(|d| e == *d));
    file || path.join("index.json").is_file()
}

/// The images `arg` names: every image [`open_with`] reads from the path `arg`, or for
/// `PATH:NAME` (see [`split_named`]) those of PATH named NAME (all their platforms), where
/// NAME is one of an image's names, its manifest digest (`sha256:…`) or the digest of an
/// image index above it (such as the one `flatroot build` prints).
///
/// # Errors
/// As [`open_with`]; [`ImageReadError::NoSuchName`] when PATH holds no image named NAME.
pub fn open_arg(arg: &Path, limits: &Limits) -> Result<Vec<ImageView>, ImageReadError> {
    check_name_given(arg)?;
    let Some((path, name)) = split_named(arg) else {
        return open_with(arg, limits);
    };

    let views = open_with(&path, limits)?;
    let names = distinct_names(&views);
    let mut unnamed: Vec<String> = Vec::new();
    let digests = views.iter().filter(|v| v.names.is_empty()).map(|v| v.digest.clone());
    super::push_new(&mut unnamed, digests);
    let named: Vec<ImageView> = views
        .into_iter()
        .filter(|v| {
            v.digest == name
                || v.indexes.contains(&name)
                || v.names.iter().any(|n| same_name(n, &name))
        })
        .collect();
    if named.is_empty() {
        return Err(ImageReadError::NoSuchName { path, name, names, unnamed });
    }
    Ok(named)
}

/// Refuses `PATH:` where PATH is an image and `PATH:` itself does not exist: a name left
/// out, which would otherwise be reported as a missing file named `PATH:`.
///
/// # Errors
/// [`ImageReadError::EmptyName`] for such an argument.
pub fn check_name_given(arg: &Path) -> Result<(), ImageReadError> {
    let Some(path) = arg.to_str().and_then(|text| text.strip_suffix(':')) else {
        return Ok(());
    };
    let path = Path::new(path);
    if arg.exists() || path.as_os_str().is_empty() || !may_hold_names(path) {
        return Ok(());
    }
    Err(ImageReadError::EmptyName { arg: arg.to_path_buf(), path: path.to_path_buf() })
}

/// Whether `asked` names the image named `name`: the same, or the same once both are read
/// as Docker reads a tag (`one:a`, `library/one:a` and `docker.io/library/one:a` alike,
/// whichever of them a docker-archive's tags or the argument spell).
fn same_name(name: &str, asked: &str) -> bool {
    name == asked || docker_name(name) == docker_name(asked)
}

/// `name` in full as Docker reads it: a first part that is no host (no `.` or `:`, not
/// `localhost`) is on `docker.io`, and a name there of one part is in `library/`.
fn docker_name(name: &str) -> String {
    let (host, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => ("docker.io", name),
    };
    let host = if host == "index.docker.io" { "docker.io" } else { host };
    if host == "docker.io" && !path.contains('/') {
        format!("docker.io/library/{path}")
    } else {
        format!("{host}/{path}")
    }
}

/// The names of `views`, each once, in order.
fn distinct_names(views: &[ImageView]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    super::push_new(&mut names, views.iter().flat_map(|v| v.names.iter().cloned()));
    names
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
        // A name with a `/` after a path without one: no port, so a path and a name.
        let tagged = "a.tar:docker.io/library/one:a";
        assert_eq!(split(tagged), Some((at("a.tar"), "docker.io/library/one:a".to_string())));
        // A layout in a directory whose name holds a colon.
        std::fs::create_dir_all(at("localhost:5000/layout")).unwrap();
        std::fs::write(at("localhost:5000/layout/index.json"), b"{}").unwrap();
        let layout = at("localhost:5000/layout");
        assert_eq!(split("localhost:5000/layout:tag"), Some((layout, "tag".to_string())));
        // A blueprint or lock is named by its path alone.
        std::fs::write(at("image.yaml"), b"").unwrap();
        std::fs::write(at("apko.lock.json"), b"").unwrap();
        assert_eq!(split("image.yaml:x"), None);
        assert_eq!(split("apko.lock.json:x"), None);
    }

    #[test]
    fn an_image_path_and_a_colon_alone_is_a_name_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let at = |rest: &str| dir.path().join(rest);
        std::fs::create_dir_all(at("layout")).unwrap();
        std::fs::write(at("layout/index.json"), b"{}").unwrap();
        std::fs::write(at("a.tar"), b"").unwrap();
        std::fs::write(at("b.tar"), b"").unwrap();
        std::fs::write(at("b.tar:"), b"").unwrap();
        std::fs::write(at("bp.yaml"), b"").unwrap();
        let refused = |rest: &str| check_name_given(&at(rest)).is_err();

        assert!(refused("layout:"));
        assert!(refused("a.tar:"));
        // Not a name left out: a file of that name, a blueprint, no image, no colon.
        assert!(!refused("b.tar:"));
        assert!(!refused("bp.yaml:"));
        assert!(!refused("missing:"));
        assert!(!refused("layout"));
        assert!(check_name_given(Path::new(":")).is_ok());
    }

    #[test]
    fn a_tag_is_named_whole_or_without_docker_hubs_prefix() {
        assert!(same_name("web:v1", "web:v1"));
        assert!(same_name("docker.io/library/one:a", "one:a"));
        assert!(same_name("docker.io/library/one:a", "library/one:a"));
        assert!(same_name("docker.io/library/one:a", "docker.io/library/one:a"));
        assert!(!same_name("quay.io/one:a", "one:a"));
        assert!(!same_name("web:v1", "web"));
        // A short tag asked for in full, as skopeo takes it.
        assert!(same_name("flatroot:latest-arm64", "docker.io/library/flatroot:latest-arm64"));
        assert!(same_name("one:a", "library/one:a"));
        assert!(same_name("user/one:a", "docker.io/user/one:a"));
        assert!(same_name("user/one:a", "index.docker.io/user/one:a"));
        assert!(!same_name("user/one:a", "one:a"));
        assert!(!same_name("localhost/one:a", "one:a"));
    }
}
