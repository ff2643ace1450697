//! Loading one side of a diff: as much of a blueprint or an image as the level needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flatroot_vfs::{Follow, FrozenTree, NodeKind};
use oci_spec::image::MediaType;

use super::model::SideInfo;
use super::{DiffError, Input, Level, Options};
use crate::blueprint::Arch;
use crate::build::{self, BuildError, Plan};
use crate::image::{self, ImageView};
use crate::lock::{self, Lock};
use crate::oci::compress::LayerDigests;
use crate::oci::digest::digest_of;
use crate::oci::image::{CREATED_ANNOTATION, ImageError, ImageSpec, config_blob};
use crate::plan;
use crate::progress::Silent;
use crate::rootfs::installed_read;

/// An input read far enough to know its architectures.
pub(super) enum Opened {
    Blueprint {
        path: PathBuf,
        plan: Box<Plan>,
        warnings: Vec<String>,
    },
    Images {
        path: PathBuf,
        views: Vec<ImageView>,
    },
    /// A lock, and the blueprint it was made from or why that cannot be used.
    Lock {
        path: PathBuf,
        lock: Box<Lock>,
        blueprint: Result<Blueprint, String>,
    },
}

/// A blueprint, planned, with its warnings.
pub(super) type Blueprint = (Box<Plan>, Vec<String>);

/// A package on one side: its version and, when known, why it is there.
pub(super) struct Package {
    pub version: String,
    pub why: Option<Vec<String>>,
}

/// One side, loaded for the level compared.
pub(super) struct Side {
    pub info: SideInfo,
    /// Config properties by field name (`env.NAME`, `labels.KEY`, ...); `None` for a layer.
    pub config: Option<BTreeMap<String, serde_json::Value>>,
    /// Packages by name, when the level compares them.
    pub packages: Option<BTreeMap<String, Package>>,
    /// The tree, when the level compares files.
    pub tree: Option<FrozenTree>,
    /// The owning package of each path, from the tree's installed database.
    pub owners: BTreeMap<Vec<u8>, String>,
    /// The clamp the layer writer would apply to this tree's mtimes.
    pub mtime_clamp: Option<i64>,
    /// What could not be loaded, and blueprint warnings.
    pub notes: Vec<String>,
    /// Why a lock's config and files could not be loaded (its blueprint is not usable):
    /// the error to give if the other side has config or files to compare them with.
    pub unusable_blueprint: Option<DiffError>,
}

pub(super) fn open(input: &Input, options: &Options) -> Result<Opened, DiffError> {
    // No kind of input is an empty file (an empty layer tar still has its end-of-archive
    // blocks), and read as a layer it would be an empty tree that equals any other.
    if !matches!(input, Input::Registry(_))
        && std::fs::metadata(input.path()).is_ok_and(|m| m.is_file() && m.len() == 0)
    {
        return Err(DiffError::EmptyFile { input: input.path().to_path_buf() });
    }
    match input {
        Input::Blueprint(path) => {
            let (plan, warnings) =
                plan::load(path, &options.cwd, &options.overrides).map_err(|source| {
                    DiffError::Plan { input: path.clone(), source: Box::new(source) }
                })?;
            Ok(Opened::Blueprint { path: path.clone(), plan: Box::new(plan), warnings })
        }
        Input::Image(path) => {
            // Sniffed first, as `mount` does: any other file would be "a malformed layer".
            if std::fs::metadata(path).is_ok_and(|m| m.is_file())
                && !image::starts_as_image(path).is_ok_and(|image| image)
            {
                return Err(DiffError::NotAnInput { input: path.clone() });
            }
            let views = image::open_arg(path, &options.limits).map_err(|source| {
                DiffError::Image { input: path.clone(), source: Box::new(source) }
            })?;
            if views.is_empty() {
                return Err(DiffError::Empty { input: path.clone() });
            }
            Ok(Opened::Images { path: path.clone(), views })
        }
        Input::Lock(path) => {
            let lock = Lock::read(path).map_err(|source| DiffError::Lock {
                input: path.clone(),
                source: Box::new(source),
            })?;
            let blueprint = lock_blueprint(&lock, path, options);
            Ok(Opened::Lock { path: path.clone(), lock: Box::new(lock), blueprint })
        }
        Input::Registry(text) => {
            let registry_error =
                |source| DiffError::Registry { input: text.clone(), source: Box::new(source) };
            let reference = crate::registry::Reference::parse(&text.to_string_lossy())
                .map_err(|e| registry_error(e.into()))?;
            let views =
                crate::registry::pull::open_image(&reference, &options.registry, &options.limits)
                    .map_err(registry_error)?;
            if views.is_empty() {
                return Err(DiffError::Empty { input: text.clone() });
            }
            Ok(Opened::Images { path: text.clone(), views })
        }
    }
}

/// The blueprint `lock` was made from (its `config.name`, against the working directory),
/// planned, when it is there and unchanged since the lock was made; otherwise why not.
fn lock_blueprint(lock: &Lock, path: &Path, options: &Options) -> Result<Blueprint, String> {
    let lock_name = path.display();
    let name = lock.config.as_ref().map(|c| c.name.as_str()).filter(|n| !n.is_empty());
    let Some(name) = name else {
        return Err(format!("{lock_name} names no blueprint (config.name)"));
    };
    let blueprint = options.cwd.join(name);
    if !blueprint.is_file() {
        // A relative name is looked for in the working directory: say where that was.
        let looked = if blueprint == Path::new(name) {
            String::new()
        } else {
            format!(" (no file {})", blueprint.display())
        };
        return Err(format!("{lock_name} was made from {name}, which is not there{looked}"));
    }

    let actual = lock::config_of(&blueprint, &options.cwd).map_err(|e| format!("{name}: {e}"))?;
    lock.check_config(path, &blueprint, &actual).map_err(|e| e.to_string())?;
    let (plan, warnings) = plan::load(&blueprint, &options.cwd, &options.overrides)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok((Box::new(plan), warnings))
}

/// The platforms an input has (`amd64`, `arm/v7`), in its order (empty for a bare layer).
pub(super) fn archs(opened: &Opened) -> Vec<String> {
    match opened {
        Opened::Blueprint { plan, .. } => plan.archs.iter().map(|a| oci_name(a)).collect(),
        Opened::Images { views, .. } => views.iter().map(ImageView::platform).collect(),
        Opened::Lock { lock, .. } => lock_archs(lock).iter().map(|a| oci_name(a)).collect(),
    }
}

/// The architectures a lock is for: those it locks packages for, then those it lists
/// repositories for (a blueprint without packages locks none). Empty for a lock of a
/// blueprint with neither, which holds the same nothing for every architecture.
fn lock_archs(lock: &Lock) -> Vec<String> {
    let mut archs = lock.archs();
    for repository in &lock.contents.repositories {
        let arch = &repository.architecture;
        if !arch.is_empty() && !archs.contains(arch) {
            archs.push(arch.clone());
        }
    }
    archs
}

/// The OCI platform of an apk architecture (`arm/v7` for `armv7`), or the apk name when
/// flatroot knows none.
fn oci_name(apk: &str) -> String {
    Arch::from_name(apk).map_or_else(|| apk.to_string(), Arch::oci_name)
}

/// [`pick_arch`] for a side of a comparison: without `--arch`, a side of one architecture
/// stands for any, as an image of one platform does, so that A's first is compared with it.
fn pick_side_arch(
    archs: &[String],
    arch: &str,
    input: &Path,
    options: &Options,
) -> Result<String, DiffError> {
    match (pick_arch(archs, arch, input), archs) {
        (Err(DiffError::NoArch { .. }), [only]) if options.arch.is_none() => Ok(only.clone()),
        (picked, _) => picked,
    }
}

/// The apk architecture of `archs` (a blueprint's or a lock's) that builds the platform
/// `arch`: the first when `arch` is empty, else the one exactly of it, else the only one
/// that matches it (see [`image::platform_matches`]).
fn pick_arch(archs: &[String], arch: &str, input: &Path) -> Result<String, DiffError> {
    let exact = archs.iter().find(|a| arch.is_empty() || oci_name(a) == arch);
    if let Some(apk) = exact {
        return Ok(apk.clone());
    }

    let matching: Vec<&String> =
        archs.iter().filter(|a| image::platform_matches(arch, &oci_name(a))).collect();
    match matching.as_slice() {
        [only] => Ok((*only).clone()),
        [] => Err(DiffError::NoArch {
            input: input.to_path_buf(),
            arch: arch.to_string(),
            available: archs.iter().map(|a| oci_name(a)).collect::<Vec<_>>().join(", "),
        }),
        several => Err(DiffError::AmbiguousArch {
            input: input.to_path_buf(),
            arch: arch.to_string(),
            choices: several.iter().map(|a| oci_name(a)).collect(),
        }),
    }
}

/// The platform compared (`amd64`, `arm/v7`): `--arch`, else A's first.
pub(super) fn choose_arch(a: &Opened, b: &Opened, options: &Options) -> Result<String, DiffError> {
    let oci = |apk: &str| {
        Arch::from_name(apk)
            .map(Arch::oci_name)
            .ok_or_else(|| DiffError::UnknownArch { arch: apk.to_string() })
    };
    // Either spelling, or a platform as images name it, as `mount --arch` takes them.
    if let Some(arch) = &options.arch {
        return image::platform_of_name(arch).map_err(|why| DiffError::UnknownPlatform { why });
    }
    // The first of A's platforms that B has too, so that two inputs sharing one compare on
    // it; A's first when they share none.
    let theirs = archs(b);
    let shared = archs(a)
        .into_iter()
        .find(|arch| !arch.is_empty() && !image::is_other_os(arch) && theirs.contains(arch));
    if let Some(shared) = shared {
        return Ok(shared);
    }
    match a {
        Opened::Blueprint { plan, .. } => plan.archs.first().map_or(Ok(String::new()), |a| oci(a)),
        // A's first Linux image: another OS's is never picked, as no `--arch` picks it.
        Opened::Images { views, path } => match image::first_linux(views) {
            Some(first) => Ok(views[first].platform()),
            None if views.is_empty() => Ok(String::new()),
            None => Err(DiffError::UnknownPlatform {
                why: format!(
                    "{}: no Linux image (it has {}); flatroot reads Linux images only",
                    path.display(),
                    image::platforms_of(views)
                ),
            }),
        },
        Opened::Lock { lock, .. } => lock_archs(lock).first().map_or(Ok(String::new()), |a| oci(a)),
    }
}

pub(super) fn load(opened: Opened, arch: &str, options: &Options) -> Result<Side, DiffError> {
    match opened {
        Opened::Blueprint { path, plan, warnings } => {
            load_blueprint(&path, *plan, warnings, arch, options)
        }
        Opened::Images { path, views } => load_image(&path, views, arch, options),
        Opened::Lock { path, lock, blueprint } => load_lock(&path, &lock, blueprint, arch, options),
    }
}

fn load_blueprint(
    path: &Path,
    mut plan: Plan,
    warnings: Vec<String>,
    arch: &str,
    options: &Options,
) -> Result<Side, DiffError> {
    let apk_arch = pick_side_arch(&plan.archs, arch, path, options)?;
    plan.archs = vec![apk_arch.clone()];
    let build_error = |source: BuildError| DiffError::Build {
        input: path.to_path_buf(),
        source: Box::new(source),
    };
    let platform = oci_name(&apk_arch);
    let mut side = Side {
        info: SideInfo { input: path.display().to_string(), kind: "blueprint", arch: platform },
        config: None,
        packages: None,
        tree: None,
        owners: BTreeMap::new(),
        unusable_blueprint: None,
        mtime_clamp: options.source_date_epoch,
        // Every warning names the file it is about.
        notes: warnings,
    };

    if options.level.config() {
        side.config = Some(planned_config(&plan, &apk_arch, path)?);
    }
    if !options.level.packages() && !options.level.files() {
        return Ok(side);
    }

    let build_options = build_options(options);
    let keyring = build::load_keyring(&plan, &build_options).map_err(build_error)?;
    let resolved = build::resolve_arch(&plan, &build_options, &apk_arch, &keyring, &Silent)
        .map_err(build_error)?;
    let packages = resolved
        .resolution
        .packages
        .iter()
        .map(|c| {
            let why = resolved.resolution.explain(&c.name);
            (c.name.clone(), Package { version: c.version.clone(), why })
        })
        .collect();
    side.packages = options.level.packages().then_some(packages);
    if resolved.repositories.iter().any(|r| r.signed_by.is_none()) {
        mark_unverified(&mut side);
    }
    if !options.level.files() {
        return Ok(side);
    }

    let pool = pool(&build_options).map_err(build_error)?;
    let built = build::tree_of(&plan, &build_options, &resolved, &keyring, &pool, &Silent)
        .map_err(build_error)?;
    if built.unverified {
        mark_unverified(&mut side);
    }
    side.owners = owners(&built.tree, path)?;
    side.tree = Some(built.tree);
    Ok(side)
}

/// The config fields the build of `plan` for `apk_arch` would write.
fn planned_config(
    plan: &Plan,
    apk_arch: &str,
    path: &Path,
) -> Result<BTreeMap<String, serde_json::Value>, DiffError> {
    let spec = build::image_spec(plan, apk_arch, 0, false).map_err(|source| DiffError::Build {
        input: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let config = config_json(&spec).map_err(|source| DiffError::Config {
        input: path.to_path_buf(),
        source: Box::new(source),
    })?;
    // The build writes the plan's annotations on the image index.
    Ok(with_annotations(config_fields(&config), &plan.annotations))
}

/// `fields` with `annotations.KEY` entries for the annotations of the image's index.
fn with_annotations(
    mut fields: BTreeMap<String, serde_json::Value>,
    annotations: &BTreeMap<String, String>,
) -> BTreeMap<String, serde_json::Value> {
    // The creation time is a time, which the config level leaves out as it does `created`.
    for (key, value) in annotations.iter().filter(|(key, _)| *key != CREATED_ANNOTATION) {
        fields.insert(format!("annotations.{key}"), serde_json::Value::String(value.clone()));
    }
    fields
}

/// How blueprint and lock trees are built for a diff: verified, as `flatroot build` would.
fn build_options(options: &Options) -> build::Options {
    build::Options {
        source_date_epoch: options.source_date_epoch,
        jobs: options.jobs.max(1),
        trust: options.trust,
        derived_cache: options.derived_cache,
        store: options.store.clone(),
        indexes: options.indexes.clone(),
        verified: options.verified.clone(),
        fetch: options.fetch.clone(),
        limits: options.limits,
        ..build::Options::default()
    }
}

fn pool(options: &build::Options) -> Result<rayon::ThreadPool, BuildError> {
    let jobs = options.jobs;
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|source| BuildError::Threads { jobs, source })
}

/// A lock's side: its packages from the lock alone; config and files from the blueprint it
/// names, built exactly as locked, when that blueprint is usable.
fn load_lock(
    path: &Path,
    lock: &Lock,
    blueprint: Result<Blueprint, String>,
    arch: &str,
    options: &Options,
) -> Result<Side, DiffError> {
    let apk_arch = match lock_archs(lock) {
        archs if !archs.is_empty() => pick_side_arch(&archs, arch, path, options)?,
        // Nothing locked for any architecture: the one its blueprint builds, or the one
        // compared (the default's when none is).
        _ => match &blueprint {
            Ok((plan, _)) => pick_side_arch(&plan.archs, arch, path, options)?,
            Err(_) => Arch::ALL
                .into_iter()
                .find(|a| a.oci_name() == arch)
                .map_or("x86_64", Arch::apk_name)
                .to_string(),
        },
    };
    let mut side = Side {
        info: SideInfo {
            input: path.display().to_string(),
            kind: "lock",
            arch: oci_name(&apk_arch),
        },
        config: None,
        packages: None,
        tree: None,
        owners: BTreeMap::new(),
        unusable_blueprint: None,
        mtime_clamp: options.source_date_epoch,
        notes: Vec::new(),
    };
    if options.level.packages() {
        let locked = lock.contents.packages.iter().filter(|p| lock::locked_arch(p) == apk_arch);
        let packages = locked
            .map(|p| (p.name.clone(), Package { version: p.version.clone(), why: None }))
            .collect();
        side.packages = Some(packages);
    }
    let (plan, warnings) = match blueprint {
        Ok(blueprint) => blueprint,
        // Packages alone need nothing but the lock; only why each is there stays unknown.
        Err(why) if options.level == Level::Packages => {
            side.notes.push(format!("why each package is locked is not known: {why}"));
            return Ok(side);
        }
        // Asked for config or files alone, there is nothing else to show: an error.
        Err(why) if options.level != Level::All => {
            return Err(DiffError::LockBlueprint { input: path.to_path_buf(), why });
        }
        Err(why) => {
            side.notes.push(format!("config and files of the lock not compared: {why}"));
            side.unusable_blueprint =
                Some(DiffError::LockBlueprint { input: path.to_path_buf(), why });
            return Ok(side);
        }
    };
    let mut plan = *plan;
    plan.archs = vec![apk_arch.clone()];
    side.notes.extend(warnings);
    if options.level.config() {
        side.config = Some(planned_config(&plan, &apk_arch, path)?);
    }
    if !options.level.files() && !options.level.packages() {
        return Ok(side);
    }

    let build_error = |source: BuildError| DiffError::Build {
        input: path.to_path_buf(),
        source: Box::new(source),
    };
    let build_options = build_options(options);
    let keyring = build::load_keyring(&plan, &build_options).map_err(build_error)?;
    if let Some(packages) = side.packages.as_mut()
        && let Err(why) =
            locked_reasons(packages, lock, path, &plan, &apk_arch, &keyring, &build_options)
    {
        side.notes.push(format!("why each package is locked is not known: {why}"));
    }
    if !options.level.files() {
        return Ok(side);
    }
    let pool = pool(&build_options).map_err(build_error)?;
    let built = build::locked_tree(
        &plan,
        &build_options,
        lock,
        path,
        &apk_arch,
        &keyring,
        &pool,
        &Silent,
        None,
    )
    .map_err(build_error)?;
    if built.unverified {
        mark_unverified(&mut side);
    }
    side.owners = owners(&built.tree, path)?;
    side.tree = Some(built.tree);
    Ok(side)
}

/// Gives `side`'s config the label and annotation a build records of unverified input
/// ([`build::UNVERIFIED`]), once the side has accepted some: what `--allow-untrusted` would
/// make the build write. Which it is, is known only once indexes (or packages) are read, so
/// a config compared alone never has them.
fn mark_unverified(side: &mut Side) {
    if let Some(config) = side.config.as_mut() {
        for kind in ["labels", "annotations"] {
            let value = serde_json::Value::String("true".to_string());
            config.insert(format!("{kind}.{}", build::UNVERIFIED), value);
        }
    }
}

/// Fills in why each locked package is there: the blueprint's world resolved against its
/// indexes, held to exactly the locked packages (what `build --lock` checks), needs the
/// indexes but no package file. Left unknown when that fails, and the failure returned for a
/// note; the build of the files, if asked for, reports it as an error.
fn locked_reasons(
    packages: &mut BTreeMap<String, Package>,
    lock: &Lock,
    path: &Path,
    plan: &Plan,
    arch: &str,
    keyring: &crate::apk::signature::Keyring,
    options: &build::Options,
) -> Result<(), String> {
    let fetcher = crate::fetch::Fetcher::new(&options.fetch).map_err(|e| crate::error_chain(&e))?;
    let fetcher = std::sync::Arc::new(fetcher);
    let (trust, limits, indexes) = (options.trust, &options.limits, &options.indexes);
    let mut resolved =
        lock::resolved_from_lock(lock, path, plan, arch, keyring, trust, limits, fetcher, indexes)
            .map_err(|error| crate::error_chain(&error))?;
    lock::explain_by_the_world(&mut resolved, plan);
    for (name, package) in packages.iter_mut() {
        package.why = resolved.resolution.explain(name);
    }
    Ok(())
}

fn load_image(
    path: &Path,
    mut views: Vec<ImageView>,
    arch: &str,
    options: &Options,
) -> Result<Side, DiffError> {
    // The image for the architecture. A bare layer stands for any; so does a single Linux
    // image when no --arch was asked for (the report then says which two were compared),
    // but never when one was: that side lacks it. Another OS's image stands for none.
    let linux = |v: &ImageView| v.os.is_empty() || v.os == "linux";
    let stands_for_any = |v: &ImageView| {
        v.arch.is_empty() || (views.len() == 1 && options.arch.is_none() && linux(v))
    };
    let found = image::position_of(&views, arch);
    let asked = found.is_some().then_some(arch);
    let index = found
        .or_else(|| views.first().filter(|v| arch.is_empty() || stands_for_any(v)).map(|_| 0))
        .ok_or_else(|| DiffError::NoArch {
            input: path.to_path_buf(),
            arch: arch.to_string(),
            available: image::platforms_of(&views),
        })?;
    image::only_one_of_its_platform(&views, index, asked, path).map_err(|source| {
        DiffError::Image { input: path.to_path_buf(), source: Box::new(source) }
    })?;
    let view = views.swap_remove(index);
    let is_layer = view.is_layer();
    let image_error =
        |source| DiffError::Image { input: path.to_path_buf(), source: Box::new(source) };
    let config = if is_layer { None } else { Some(view.config().map_err(image_error)?) };
    let mut side = Side {
        info: SideInfo {
            input: path.display().to_string(),
            kind: if is_layer { "layer" } else { "image" },
            arch: view.platform(),
        },
        config: config.map(|config| with_annotations(config_fields(config), &view.annotations)),
        packages: None,
        tree: None,
        owners: BTreeMap::new(),
        unusable_blueprint: None,
        mtime_clamp: None,
        notes: Vec::new(),
    };
    if !options.level.packages() && !options.level.files() {
        return Ok(side);
    }

    let tree = view.tree().map_err(image_error)?;
    let records = match installed_db(&tree) {
        Some(bytes) => installed_read::parse(bytes)
            .map_err(|source| DiffError::Installed { input: path.to_path_buf(), source })?,
        None => {
            side.notes.push(format!("{}: has no lib/apk/db/installed", path.display()));
            Vec::new()
        }
    };
    side.owners = installed_read::owners(&records);
    let mut reasons = match options.level.packages() {
        true => super::why::installed_reasons(&tree, &records),
        false => BTreeMap::new(),
    };
    let packages = records
        .into_iter()
        .map(|r| {
            let why = reasons.remove(&r.record.name);
            (r.record.name, Package { version: r.record.version, why })
        })
        .collect();
    side.packages = options.level.packages().then_some(packages);
    if options.level.files() {
        side.tree = Some(tree);
    }
    Ok(side)
}

fn installed_db(tree: &FrozenTree) -> Option<&[u8]> {
    let id = tree.lookup(b"lib/apk/db/installed", Follow::Final).ok()?;
    match &tree.node(id).kind {
        NodeKind::File(content) => Some(content.bytes()),
        _ => None,
    }
}

fn owners(tree: &FrozenTree, path: &Path) -> Result<BTreeMap<Vec<u8>, String>, DiffError> {
    let Some(bytes) = installed_db(tree) else { return Ok(BTreeMap::new()) };
    let records = installed_read::parse(bytes)
        .map_err(|source| DiffError::Installed { input: path.to_path_buf(), source })?;
    Ok(installed_read::owners(&records))
}

/// The config JSON a build would write for `spec`, through the build's own config writer
/// (the layer digest does not matter: `rootfs` is not compared).
fn config_json(spec: &ImageSpec) -> Result<serde_json::Value, ImageError> {
    let digest = |bytes: &[u8]| {
        digest_of(bytes).map_err(|source| ImageError::Digest { what: "config", source })
    };
    let layer = LayerDigests {
        diff_id: digest(b"")?,
        digest: digest(b"")?,
        size: 0,
        uncompressed_size: 0,
        media_type: MediaType::ImageLayerGzip,
    };
    let (bytes, _) = config_blob(spec, &layer)?;
    serde_json::from_slice(&bytes).map_err(|source| ImageError::Json { what: "config", source })
}

/// The compared properties of an image config (OCI image spec, config.md), by field name.
/// Empty lists and maps count as unset, as the config writer leaves them out.
pub(super) fn config_fields(config: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = BTreeMap::new();
    let section = config.get("config").unwrap_or(&Value::Null);
    let present = |v: &Value| match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    };
    for (key, name) in [
        ("Entrypoint", "entrypoint"),
        ("Cmd", "cmd"),
        ("User", "user"),
        ("WorkingDir", "work-dir"),
        ("StopSignal", "stop-signal"),
    ] {
        if let Some(value) = section.get(key).filter(|v| present(v)) {
            out.insert(name.to_string(), value.clone());
        }
    }
    if let Some(volumes) =
        section.get("Volumes").and_then(Value::as_object).filter(|v| !v.is_empty())
    {
        let names: Vec<Value> = volumes.keys().map(|k| Value::String(k.clone())).collect();
        out.insert("volumes".to_string(), Value::Array(names));
    }
    for item in section.get("Env").and_then(Value::as_array).into_iter().flatten() {
        let text = item.as_str().unwrap_or_default();
        let (name, value) = text.split_once('=').unwrap_or((text, ""));
        out.insert(format!("env.{name}"), Value::String(value.to_string()));
    }
    let labels = section.get("Labels").and_then(Value::as_object).into_iter().flatten();
    for (key, value) in labels.filter(|(key, _)| *key != CREATED_ANNOTATION) {
        out.insert(format!("labels.{key}"), value.clone());
    }
    let text = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut platform = format!("{}/{}", text("os"), text("architecture"));
    if !text("variant").is_empty() {
        platform = format!("{platform}/{}", text("variant"));
    }
    out.insert("platform".to_string(), Value::String(platform));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blueprint_arch_is_picked_exactly_else_as_the_only_match() {
        let archs: Vec<String> = ["x86_64", "armhf", "armv7"].map(String::from).to_vec();
        let pick = |arch| pick_arch(&archs, arch, Path::new("bp.yaml")).map_err(|e| e.to_string());
        assert_eq!(pick(""), Ok("x86_64".to_string()));
        assert_eq!(pick("arm/v7"), Ok("armv7".to_string()));
        assert_eq!(pick("arm/v6"), Ok("armhf".to_string()));
        let want = "bp.yaml: 2 architectures match \"arm\" (arm/v6, arm/v7): pick one with --arch";
        assert_eq!(pick("arm"), Err(want.to_string()));
        let one_arm = ["armv7".to_string()];
        assert_eq!(pick_arch(&one_arm, "arm", Path::new("x")).ok(), Some("armv7".to_string()));
        let want = "bp.yaml: no image for architecture \"s390x\" (it has amd64, arm/v6, arm/v7)";
        assert_eq!(pick("s390x"), Err(want.to_string()));
    }

    #[test]
    fn a_side_of_one_architecture_stands_for_any_unless_one_is_asked_for() {
        let only = ["aarch64".to_string()];
        let input = Path::new("bp.yaml");
        let default = Options::default();
        assert_eq!(pick_side_arch(&only, "amd64", input, &default).ok(), Some("aarch64".into()));
        let asked = Options { arch: Some("x86_64".to_string()), ..Options::default() };
        assert!(pick_side_arch(&only, "amd64", input, &asked).is_err());
        let two = ["aarch64".to_string(), "armv7".to_string()];
        assert!(pick_side_arch(&two, "amd64", input, &default).is_err());
    }

    #[test]
    fn config_fields_split_env_and_labels_and_drop_empty_lists_and_times() {
        let config = serde_json::json!({
            "architecture": "arm64", "variant": "v8", "os": "linux",
            "config": {
                "Env": ["PATH=/bin", "EMPTY="], "Cmd": [], "User": "65532",
                "Labels": {"a": "1", "org.opencontainers.image.created": "2020-01-01T00:00:00Z"},
                "Volumes": {"/data": {}}
            }
        });
        let fields = config_fields(&config);
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["env.EMPTY", "env.PATH", "labels.a", "platform", "user", "volumes"]);
        assert_eq!(fields["platform"], "linux/arm64/v8");
        assert_eq!(fields["volumes"], serde_json::json!(["/data"]));
    }
}
