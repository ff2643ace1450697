//! Reading blueprint files: size limit, strict parsing, includes, checks, warnings.

use std::fmt;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use super::place::SourceFiles;
use super::types::{Blueprint, PathKind};
use super::yaml::{self, SyntaxError};

/// The largest blueprint file accepted, in bytes (4 MiB). Real blueprints are a few KiB; the
/// limit bounds the parser's memory and time on hostile input.
pub const MAX_BLUEPRINT_BYTES: u64 = 4 * 1024 * 1024;

/// The longest chain of `include`s followed (a blueprint including one that includes …).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// A blueprint with its includes merged in, and what loading it noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The merged, checked blueprint.
    pub blueprint: Blueprint,
    /// Keys that were parsed but that flatroot does not act on, in file order, then in the
    /// order of the fields of [`Blueprint`]. The build reports them to the user.
    pub warnings: Vec<Warning>,
    /// Every file read with its text: the blueprint itself first, then each include in the
    /// order followed; to place a value of the merged blueprint in them, and to hash them.
    pub sources: SourceFiles,
}

impl Loaded {
    /// Every file read: the blueprint itself first, then each include in the order followed.
    pub fn files(&self) -> Vec<PathBuf> {
        self.sources.texts().map(|(file, _)| file.to_path_buf()).collect()
    }
}

/// A key present in a blueprint that flatroot parses but does not act on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Warning {
    /// The key's path as written in YAML, e.g. `contents.baseimage` or `layering`.
    pub key: String,
    /// The file that sets it.
    pub file: PathBuf,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `entrypoint.type` and `services` are acted on for a service bundle.
        let unless = if self.key.starts_with("entrypoint.") {
            " unless `entrypoint.type` is `service-bundle`"
        } else {
            ""
        };
        let (file, key) = (self.file.display(), &self.key);
        write!(f, "{file}: `{key}` is parsed but not acted on by flatroot{unless}")
    }
}

/// Why a blueprint could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BlueprintError {
    /// The file could not be opened or read.
    #[error("cannot read blueprint {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// The file exceeds [`MAX_BLUEPRINT_BYTES`].
    #[error("blueprint {} is larger than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit it exceeds.
        limit: u64,
    },
    /// A key the schema does not have.
    #[error("{}: unknown key `{key}`", at(file, *line, *column))]
    UnknownKey {
        /// The file.
        file: PathBuf,
        /// 1-based line of the key, when known.
        line: Option<usize>,
        /// 1-based column of the key, when known.
        column: Option<usize>,
        /// The key's dotted path, e.g. `contents.foo`.
        key: String,
        /// The parser's report, which lists the keys allowed there.
        #[source]
        source: Box<SyntaxError>,
    },
    /// Not YAML, or a value of the wrong type or form (an unknown architecture, a bad mode, a
    /// malformed repository entry, nesting or alias limits exceeded, …).
    #[error("{}: invalid blueprint", at(file, *line, *column))]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
        /// The parser's report.
        #[source]
        source: Box<SyntaxError>,
    },
    /// An `include` names a file that cannot be found.
    #[error("{}: include `{include}` not found at {}", at(file, *line, *column), tried.display())]
    IncludeNotFound {
        /// The including file.
        file: PathBuf,
        /// 1-based line of the `include` value, when it can be found.
        line: Option<usize>,
        /// 1-based column of the `include` value, when it can be found.
        column: Option<usize>,
        /// The `include` value as written.
        include: String,
        /// The path looked at: `include` resolved against the working directory.
        tried: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
    /// An `include` names a directory or another thing that is not a file.
    #[error(
        "{}: include `{include}` at {} is not a file",
        at(file, *line, *column),
        tried.display()
    )]
    IncludeNotAFile {
        /// The including file.
        file: PathBuf,
        /// 1-based line of the `include` value, when it can be found.
        line: Option<usize>,
        /// 1-based column of the `include` value, when it can be found.
        column: Option<usize>,
        /// The `include` value as written.
        include: String,
        /// The path looked at: `include` resolved against the working directory.
        tried: PathBuf,
    },
    /// A blueprint includes itself, directly or through other files.
    #[error("include cycle: {}", chain(files))]
    IncludeCycle {
        /// The files of the cycle, from the first to the one that closes it.
        files: Vec<PathBuf>,
    },
    /// Includes nest deeper than [`MAX_INCLUDE_DEPTH`].
    #[error("{}: includes nest deeper than {limit} files", file.display())]
    IncludeTooDeep {
        /// The file whose include would exceed the limit.
        file: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// A value that parses but that apko would refuse, e.g. a user with uid 0.
    #[error("{}: {field}: {reason}", at(file, *line, *column))]
    Invalid {
        /// The file that sets the value.
        file: PathBuf,
        /// 1-based line of the value, when it can be found.
        line: Option<usize>,
        /// 1-based column of the value, when it can be found.
        column: Option<usize>,
        /// Where in the blueprint, e.g. `accounts.users[1].uid`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn at(file: &Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{}:{line}:{column}", file.display()),
        (Some(line), None) => format!("{}:{line}", file.display()),
        _ => file.display().to_string(),
    }
}

fn chain(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|file| file.display().to_string()).collect();
    names.join(" -> ")
}

/// Loads the blueprint at `path`, following its `include`s.
///
/// `path`, `include` values and local `repositories` and `keyring` entries are resolved
/// against `cwd`, the working directory of the build, as apko resolves them against its
/// process directory (not against the including file's directory). The library never reads
/// the process's own working directory.
///
/// Includes merge as apko's `MergeInto` does, the including blueprint taking precedence:
/// `entrypoint` (as a whole), `cmd`, `stop-signal`, `work-dir`, `archs` and `accounts.run-as`
/// come from the included file only when the including one leaves them empty, and so do the
/// fields of `os-release`, each on its own (a key of older apko releases, which newer ones
/// and their `MergeInto` do not know); `environment` and `annotations` are merged key by key,
/// the including file winning; `accounts.users`, `accounts.groups`, `paths`, `volumes` and
/// every list of `contents` (and of `certificates`) are concatenated, the included file's
/// entries first. The other keys of an included file (`vcs-url`, `layering`,
/// `contents.baseimage`, `options`, `format`) are dropped, as in apko.
///
/// Errors: [`BlueprintError`] naming the file (and line and column where the parser knows
/// them) for unreadable or oversized files, malformed YAML, unknown keys, invalid values,
/// missing includes and include cycles.
pub fn load(path: &Path, cwd: &Path) -> Result<Loaded, BlueprintError> {
    let path = normalize(&cwd.join(path));
    let text = read_limited(&path)?;
    load_text(&text, path, cwd)
}

/// Loads a blueprint from `text`, as if read from `origin`, following its `include`s.
///
/// `origin` names the text in errors and warnings and is the first entry of
/// [`Loaded::files`]; it need not exist. Includes and local paths resolve against `cwd` as in
/// [`load`]. Errors as [`load`]; [`BlueprintError::TooLarge`] when `text` exceeds
/// [`MAX_BLUEPRINT_BYTES`].
pub fn parse_str(text: &str, origin: &Path, cwd: &Path) -> Result<Loaded, BlueprintError> {
    if text.len() as u64 > MAX_BLUEPRINT_BYTES {
        let path = origin.to_path_buf();
        return Err(BlueprintError::TooLarge { path, limit: MAX_BLUEPRINT_BYTES });
    }
    load_text(text, origin.to_path_buf(), cwd)
}

fn load_text(text: &str, origin: PathBuf, cwd: &Path) -> Result<Loaded, BlueprintError> {
    let mut loader = Loader { cwd, stack: Vec::new(), warnings: Vec::new(), texts: Vec::new() };
    let mut blueprint = loader.parse_file(text, origin.clone())?;

    check_base_image(&blueprint, &origin)?;
    dedup_archs(&mut blueprint);
    resolve_local_paths(&mut blueprint, cwd);
    tracing::debug!(
        files = loader.texts.len(),
        warnings = loader.warnings.len(),
        "loaded blueprint {}",
        origin.display()
    );
    let sources = SourceFiles::new(loader.texts);
    Ok(Loaded { blueprint, warnings: loader.warnings, sources })
}

struct Loader<'a> {
    cwd: &'a Path,
    /// Identities of the files being loaded, outermost first, to detect cycles.
    stack: Vec<(PathBuf, PathBuf)>,
    warnings: Vec<Warning>,
    /// Every file read so far, with its text.
    texts: Vec<(PathBuf, String)>,
}

impl Loader<'_> {
    fn parse_file(&mut self, text: &str, file: PathBuf) -> Result<Blueprint, BlueprintError> {
        let mut blueprint: Blueprint = yaml::from_str(text).map_err(|e| syntax(&file, e))?;

        check(&blueprint, &file, text)?;
        mark_inline_files(&mut blueprint, &file);
        self.warnings.extend(warnings(&blueprint, &file));
        self.texts.push((file.clone(), text.to_owned()));

        // apko follows an include only when it names something.
        let Some(include) = blueprint.include.clone().filter(|i| !i.is_empty()) else {
            return Ok(blueprint);
        };
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(BlueprintError::IncludeTooDeep { file, limit: MAX_INCLUDE_DEPTH });
        }

        // Cycles are found by file identity, so `a.yaml` and `./x/../a.yaml` are one file.
        let identity = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        self.stack.push((identity, file.clone()));
        let tried = normalize(&self.cwd.join(&include));
        let place = yaml::locate_path(text, "include", false).unzip();
        let tried_identity =
            std::fs::canonicalize(&tried).map_err(|source| BlueprintError::IncludeNotFound {
                file: file.clone(),
                line: place.0,
                column: place.1,
                include: include.clone(),
                tried: tried.clone(),
                source,
            })?;
        if let Some(start) = self.stack.iter().position(|(id, _)| *id == tried_identity) {
            let mut files: Vec<PathBuf> =
                self.stack.iter().skip(start).map(|(_, shown)| shown.clone()).collect();
            files.push(tried);
            return Err(BlueprintError::IncludeCycle { files });
        }

        if !tried_identity.is_file() {
            let (line, column) = place;
            return Err(BlueprintError::IncludeNotAFile { file, line, column, include, tried });
        }

        tracing::debug!("{} includes {}", file.display(), tried.display());
        let included_text = read_limited(&tried)?;
        let included = self.parse_file(&included_text, tried)?;
        self.stack.pop();
        merge_included(included, &mut blueprint);
        Ok(blueprint)
    }
}

/// Records in each inline key and certificate the file it is written in, which merging
/// includes would otherwise lose.
fn mark_inline_files(blueprint: &mut Blueprint, file: &Path) {
    let keys = blueprint.contents.runtime_keyring.iter_mut().flatten();
    let certificates = blueprint.certificates.iter_mut().flat_map(|c| c.additional.iter_mut());
    for entry in keys.chain(certificates) {
        entry.file = Some(file.to_path_buf());
    }
}

fn syntax(file: &Path, source: SyntaxError) -> BlueprintError {
    let file = file.to_path_buf();
    let (line, column) = (source.line(), source.column());
    let source = Box::new(source);
    match source.unknown_key() {
        Some(key) => {
            let key = key.to_owned();
            BlueprintError::UnknownKey { file, line, column, key, source }
        }
        None => BlueprintError::Syntax { file, line, column, source },
    }
}

fn read_limited(path: &Path) -> Result<String, BlueprintError> {
    let read_error = |source| BlueprintError::Read { path: path.to_path_buf(), source };
    let too_large =
        || BlueprintError::TooLarge { path: path.to_path_buf(), limit: MAX_BLUEPRINT_BYTES };

    let file = std::fs::File::open(path).map_err(read_error)?;
    let length = file.metadata().map_err(read_error)?.len();
    if length > MAX_BLUEPRINT_BYTES {
        return Err(too_large());
    }

    // The file may grow between the check and the read; never read past the limit.
    let mut bytes = Vec::new();
    file.take(MAX_BLUEPRINT_BYTES + 1).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() as u64 > MAX_BLUEPRINT_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes)
        .map_err(|e| syntax(path, yaml::not_utf8(e.as_bytes(), &e.utf8_error())))
}

/// What apko's `Validate` refuses, checked per file (whose `text` it is) so the error names
/// the file at fault and where the value is.
fn check(blueprint: &Blueprint, file: &Path, text: &str) -> Result<(), BlueprintError> {
    let invalid = |field: String, reason: &str| {
        // A key left out (a user without `uid`) is placed at its entry.
        let entry = field.rsplit_once('.').map(|(entry, _)| entry);
        let (line, column) = yaml::locate_path(text, &field, false)
            .or_else(|| entry.and_then(|entry| yaml::locate_path(text, entry, false)))
            .unzip();
        BlueprintError::Invalid {
            file: file.to_path_buf(),
            line,
            column,
            field,
            reason: reason.to_owned(),
        }
    };

    for (index, user) in blueprint.accounts.users.iter().enumerate() {
        if user.username.is_empty() {
            return Err(invalid(format!("accounts.users[{index}]"), "user has no username"));
        }
        if user.uid == 0 {
            let reason = "missing or 0: a user needs a uid other than 0 (to run as root, use \
                          `run-as: 0`)";
            return Err(invalid(format!("accounts.users[{index}].uid"), reason));
        }
    }
    for (index, group) in blueprint.accounts.groups.iter().enumerate() {
        if group.groupname.is_empty() {
            return Err(invalid(format!("accounts.groups[{index}]"), "group has no groupname"));
        }
    }
    for (index, mutation) in blueprint.paths.iter().enumerate() {
        if mutation.path.is_empty() {
            return Err(invalid(format!("paths[{index}].path"), "path is empty"));
        }
        let needs_source = matches!(mutation.kind, PathKind::Hardlink | PathKind::Symlink);
        if needs_source && mutation.source.as_deref().is_none_or(str::is_empty) {
            let reason = "hardlink and symlink need a source";
            return Err(invalid(format!("paths[{index}].source"), reason));
        }
    }
    Ok(())
}

/// apko refuses a base image together with image settings it cannot layer on top of one.
fn check_base_image(blueprint: &Blueprint, file: &Path) -> Result<(), BlueprintError> {
    if blueprint.contents.baseimage.is_none() {
        return Ok(());
    }
    let settings = !blueprint.entrypoint.is_empty()
        || blueprint.cmd.is_some()
        || blueprint.stop_signal.is_some()
        || blueprint.work_dir.is_some()
        || blueprint.accounts != Default::default()
        || !blueprint.environment.is_empty()
        || !blueprint.paths.is_empty()
        || !blueprint.annotations.is_empty();
    if !settings {
        return Ok(());
    }
    // The merged blueprint, with settings from any of its files: no one place to point at.
    Err(BlueprintError::Invalid {
        file: file.to_path_buf(),
        line: None,
        column: None,
        field: "contents.baseimage".to_owned(),
        reason: "with a base image only contents, archs and include may be set".to_owned(),
    })
}

/// The keys of `blueprint` flatroot does not act on, in field order: `entrypoint.type` and
/// `services` are acted on for a service bundle only.
fn warnings(blueprint: &Blueprint, file: &Path) -> Vec<Warning> {
    let bundle = blueprint.entrypoint.is_service_bundle();
    let contents = &blueprint.contents;
    let present = [
        ("contents.baseimage", contents.baseimage.is_some()),
        (
            "entrypoint.type",
            blueprint.entrypoint.kind.as_deref().is_some_and(|k| !k.is_empty()) && !bundle,
        ),
        ("entrypoint.services", blueprint.entrypoint.services.is_some() && !bundle),
        ("layering", blueprint.layering.is_some()),
        ("options", blueprint.options.is_some()),
        ("format", blueprint.format.is_some()),
    ];
    present
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(key, _)| Warning { key: key.to_owned(), file: file.to_path_buf() })
        .collect()
}

/// Merges `included` under `target`, as apko's `ImageConfiguration.MergeInto` does.
fn merge_included(included: Blueprint, target: &mut Blueprint) {
    if target.entrypoint.is_empty() {
        target.entrypoint = included.entrypoint;
    }
    fill(&mut target.cmd, included.cmd);
    fill(&mut target.stop_signal, included.stop_signal);
    fill(&mut target.work_dir, included.work_dir);
    if target.archs.is_empty() {
        target.archs = included.archs;
    }

    let accounts = &mut target.accounts;
    fill(&mut accounts.run_as, included.accounts.run_as);
    prepend(&mut accounts.users, included.accounts.users);
    prepend(&mut accounts.groups, included.accounts.groups);

    for (name, value) in included.environment {
        target.environment.entry(name).or_insert(value);
    }
    prepend(&mut target.paths, included.paths);
    for (name, value) in included.annotations {
        target.annotations.entry(name).or_insert(value);
    }
    prepend(&mut target.volumes, included.volumes);

    let contents = &mut target.contents;
    prepend(&mut contents.keyring, included.contents.keyring);
    prepend_opt(&mut contents.build_repositories, included.contents.build_repositories);
    prepend_opt(&mut contents.runtime_repositories, included.contents.runtime_repositories);
    prepend(&mut contents.repositories, included.contents.repositories);
    prepend_opt(&mut contents.runtime_keyring, included.contents.runtime_keyring);
    prepend(&mut contents.packages, included.contents.packages);

    target.certificates = match (target.certificates.take(), included.certificates) {
        (Some(mut mine), Some(theirs)) => {
            prepend(&mut mine.additional, theirs.additional);
            prepend(&mut mine.providers, theirs.providers);
            Some(mine)
        }
        (mine, theirs) => mine.or(theirs),
    };

    // `os-release` field by field, as `cmd` and `work-dir` merge.
    target.os_release = match (target.os_release.take(), included.os_release) {
        (Some(mut mine), Some(theirs)) => {
            fill(&mut mine.id, theirs.id);
            fill(&mut mine.name, theirs.name);
            fill(&mut mine.pretty_name, theirs.pretty_name);
            fill(&mut mine.version_id, theirs.version_id);
            fill(&mut mine.home_url, theirs.home_url);
            fill(&mut mine.bug_report_url, theirs.bug_report_url);
            Some(mine)
        }
        (mine, theirs) => mine.or(theirs),
    };
}

/// Sets `target` from `from` when `target` is unset or empty (apko's `if x == ""`).
fn fill(target: &mut Option<String>, from: Option<String>) {
    if target.as_deref().is_none_or(str::is_empty) && from.is_some() {
        *target = from;
    }
}

fn prepend<T>(target: &mut Vec<T>, mut first: Vec<T>) {
    first.append(target);
    *target = first;
}

fn prepend_opt<T>(target: &mut Option<Vec<T>>, first: Option<Vec<T>>) {
    match (target.as_mut(), first) {
        (Some(mine), Some(theirs)) => prepend(mine, theirs),
        (None, theirs) => *target = theirs,
        (Some(_), None) => {}
    }
}

fn dedup_archs(blueprint: &mut Blueprint) {
    let mut seen = Vec::with_capacity(blueprint.archs.len());
    blueprint.archs.retain(|arch| {
        let first = !seen.contains(arch);
        seen.push(*arch);
        first
    });
}

/// Resolves local repositories and keys against `cwd`; runtime-only repositories are written
/// into the image verbatim and never read, so they are left alone.
fn resolve_local_paths(blueprint: &mut Blueprint, cwd: &Path) {
    let contents = &mut blueprint.contents;
    let build = contents.build_repositories.iter_mut().flatten();
    for repository in contents.repositories.iter_mut().chain(build) {
        repository.local_path = local_path(&repository.location, cwd);
    }
    for key in &mut contents.keyring {
        key.local_path = local_path(&key.location, cwd);
    }
}

/// A location without `scheme://` is a local path, as in apko; `file://` names one too.
fn local_path(location: &str, cwd: &Path) -> Option<PathBuf> {
    if let Some(path) = location.strip_prefix("file://") {
        return Some(normalize(&cwd.join(path)));
    }
    if location.contains("://") {
        return None;
    }
    Some(normalize(&cwd.join(location)))
}

/// Drops `.` components so paths read as the user would write them; `..` is kept, since
/// removing it lexically would be wrong across symlinks.
fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_path_distinguishes_urls_from_paths() {
        let cwd = Path::new("/work");
        assert_eq!(local_path("https://example.com/os", cwd), None);
        assert_eq!(local_path("./testdata/packages", cwd), Some("/work/testdata/packages".into()));
        assert_eq!(local_path("/srv/repo", cwd), Some("/srv/repo".into()));
        assert_eq!(local_path("file:///srv/repo", cwd), Some("/srv/repo".into()));
    }

    #[test]
    fn fill_only_replaces_unset_or_empty_values() {
        let mut value = None;
        fill(&mut value, Some("a".to_owned()));
        assert_eq!(value.as_deref(), Some("a"));
        fill(&mut value, Some("b".to_owned()));
        assert_eq!(value.as_deref(), Some("a"));
        let mut empty = Some(String::new());
        fill(&mut empty, Some("c".to_owned()));
        assert_eq!(empty.as_deref(), Some("c"));
    }

    #[test]
    fn prepend_puts_included_entries_first() {
        let mut mine = vec![3, 4];
        prepend(&mut mine, vec![1, 2]);
        assert_eq!(mine, [1, 2, 3, 4]);
        let mut none: Option<Vec<i32>> = None;
        prepend_opt(&mut none, Some(vec![1]));
        assert_eq!(none, Some(vec![1]));
    }
}
