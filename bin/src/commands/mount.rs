//! `flatroot mount` and `flatroot umount`: serve a blueprint's tree or an image's root
//! filesystem read-only through FUSE, and take it down again.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use clap::Args;
use flatroot_materialize::blueprint::Arch;
use flatroot_materialize::build;
use flatroot_materialize::image;
use flatroot_materialize::registry;
use flatroot_vfs::FrozenTree;
use flatroot_vfs::fuse::{self, MountConfig};
use nix::sys::signal::{SigSet, Signal};

use crate::commands::{mountinfo, options};
use crate::output::{self, Spinner};

/// Options of `flatroot mount`.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// What to mount: a blueprint (`.yaml`, `.yml`), an OCI image layout directory, a
    /// docker-archive (or one image of either by its name, as `PATH:NAME`), a layer tar
    /// (`.tar`, `.tar.gz`, `.tar.zst`), or a registry reference
    /// `HOST[:PORT]/NAME[:TAG][@DIGEST]` (when no such path exists), pulled into memory.
    pub source: PathBuf,
    /// Where: an existing, empty directory.
    pub mountpoint: PathBuf,
    /// The architecture to mount (apk or OCI spelling: `armv7` or `arm/v7`); default: the
    /// host's if the blueprint or image has it, else the first.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Detach once the mount is ready and print the server's pid; `flatroot umount` or
    /// SIGTERM ends it.
    #[arg(long)]
    pub background: bool,
    /// Let users other than the one who mounted read it (FUSE `allow_other`).
    #[arg(long)]
    pub allow_other: bool,
    /// Clamp every mtime of a blueprint's tree to this time (seconds since the epoch)
    /// [env: SOURCE_DATE_EPOCH, empty meaning unset].
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        value_parser = super::options::parse_epoch
    )]
    pub source_date_epoch: Option<i64>,
    /// Worker threads for unpacking a blueprint, and for answering the kernel's requests
    /// once mounted (at most 64 of those); default: the number of CPUs. Also how many layers
    /// of a registry image download at once (default: 4).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Repositories, keys and trust, for a blueprint; limits, for a blueprint's packages
    /// and an image's layers.
    #[command(flatten)]
    pub repos: crate::cli::RepositoryArgs,
    /// How registries are reached, for a reference.
    #[command(flatten)]
    pub registry: crate::commands::registry::RegistryArgs,
    /// The detached server of `--background` (internal).
    #[arg(long, hide = true)]
    pub background_child: bool,
}

/// Options of `flatroot umount`.
#[derive(Debug, Args)]
pub struct UmountArgs {
    /// The directory a `flatroot mount` serves.
    pub mountpoint: PathBuf,
    /// Detach at once even while files are open (`fusermount3 -u -z`); the server ends when
    /// the last of them is closed.
    #[arg(long, short = 'z')]
    pub lazy: bool,
}

/// What the first argument of `flatroot mount` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Blueprint,
    Image,
    Registry,
}

/// Mounts the tree and serves it until it is unmounted or a signal arrives.
pub fn run(args: MountArgs) -> anyhow::Result<ExitCode> {
    // Checked for every source, as build and diff check it, though only a blueprint uses it.
    if args.source_date_epoch.is_none() {
        options::source_date_epoch_from_env()?;
    }
    let source = classify(&args.source)?;
    check_fuse()?;
    check_mountpoint(&args.mountpoint, &args.mountpoint)?;
    if args.background && !args.background_child {
        return detach();
    }
    if args.background_child {
        // A session of its own: the terminal's Ctrl-C and hangup are not for the daemon.
        let _ = nix::unistd::setsid();
        die_with_launcher()?;
    }

    // Signals are taken by one thread from the start, before any worker thread exists to
    // inherit an open mask; until the mount exists a signal just ends the process.
    let mounted: Arc<Mutex<Option<PathBuf>>> = Arc::new(Mutex::new(None));
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals.thread_block().context("cannot block signals")?;
    let watcher = Arc::clone(&mounted);
    std::thread::Builder::new()
        .name("flatroot-signals".to_string())
        .spawn(move || watch_signals(signals, &watcher))
        .context("cannot start the signal thread")?;

    let jobs = options::jobs(args.jobs, MountConfig::default().threads)?;
    let (tree, label) = match source {
        Source::Blueprint => blueprint_tree(&args)?,
        Source::Image | Source::Registry => image_tree(&args, source)?,
    };
    let mountpoint = std::fs::canonicalize(&args.mountpoint)
        .with_context(|| format!("cannot resolve {}", args.mountpoint.display()))?;
    // A file is named by its absolute path, which `/proc/self/mountinfo` and `df` then
    // show whatever the directory the mount was made from.
    let shown = match source {
        Source::Registry => args.source.clone(),
        _ => std::path::absolute(&args.source).unwrap_or_else(|_| args.source.clone()),
    };
    let config = MountConfig {
        // Mount options are comma-separated, so the source name must not hold a comma.
        fsname: format!("flatroot:{}", shown.display()).replace([',', ' ', '\\'], "_"),
        allow_other: args.allow_other,
        threads: jobs,
    };

    let session = {
        let mut slot = mounted.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again under the claim: another mount may have come while the tree was made.
        let claim = claim(&mountpoint)?;
        check_mountpoint(&mountpoint, &args.mountpoint)?;
        let session = fuse::mount(Arc::new(tree), &mountpoint, &config)?;
        drop(claim);
        *slot = Some(mountpoint.clone());
        session
    };
    if args.background_child {
        announce_ready()?;
    } else {
        let _ = writeln!(
            std::io::stderr().lock(),
            "mounted {label} on {}; Ctrl-C or `flatroot umount {}` unmounts",
            mountpoint.display(),
            shell_word(&mountpoint)
        );
    }
    session.serve()?;
    tracing::debug!(peak_rss_kib = ?peak_rss_kib(), "mount served");
    Ok(ExitCode::SUCCESS)
}

/// Unmounts a `flatroot mount` with `fusermount3`; any other mount, and a directory on
/// which nothing is mounted, is refused before anything is unmounted.
pub fn umount(args: UmountArgs) -> anyhow::Result<ExitCode> {
    if find_command("fusermount3").is_none() {
        bail!("fusermount3 is not installed; it comes with FUSE 3 (apt-get install fuse3)");
    }
    let mp = args.mountpoint.display();
    let dir = mountinfo::resolve(&args.mountpoint)
        .with_context(|| format!("cannot resolve the mountpoint {mp}"))?;
    let mounts = mountinfo::read().context("cannot read the mount table /proc/self/mountinfo")?;
    let Some(mount) = mountinfo::on(&mounts, &dir) else {
        bail!("{mp} is not mounted");
    };
    // Run as root, fusermount3 unmounts whatever is there: a tmpfs, a bind mount, a disk.
    if !mount.is_flatroot() {
        bail!(
            "{mp} is not a flatroot mount (it is {} from {}); flatroot umount only unmounts \
             what flatroot mount made",
            mount.fstype,
            mount.source
        );
    }
    let mut command = Command::new("fusermount3");
    command.arg("-u");
    if args.lazy {
        command.arg("-z");
    }
    let output = command.arg("--").arg(&dir).output().context("cannot run fusermount3")?;
    if output.status.success() {
        return Ok(ExitCode::SUCCESS);
    }
    let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
    let nested = mountinfo::read().map(|now| {
        let below = mountinfo::below(&now, &dir);
        below.iter().map(|m| m.mountpoint.display().to_string()).collect::<Vec<_>>()
    });
    if message.contains("busy")
        && let Ok(nested) = nested
        && !nested.is_empty()
    {
        let (what, verb) = if nested.len() == 1 { ("that", "is") } else { ("those", "are") };
        bail!(
            "cannot unmount {mp}: {} {verb} mounted inside it ({message}); unmount {what} \
             first",
            nested.join(", ")
        );
    }
    if message.contains("busy") {
        bail!(
            "cannot unmount {mp}: a process still has files open there ({message}); close \
             them, or `flatroot umount --lazy {}` detaches it now and the server ends when \
             the last file is closed",
            shell_word(&args.mountpoint)
        );
    }
    bail!("cannot unmount {mp}: {message}");
}

/// Tells a blueprint from an image by what the path is, and an image named as
/// `PATH:NAME` or a registry reference by its form when no such path exists.
fn classify(path: &Path) -> anyhow::Result<Source> {
    image::check_name_given(path)?;
    if image::split_named(path).is_some() {
        return Ok(Source::Image);
    }
    if !path.exists()
        && let Some(text) = path.to_str()
        && registry::Reference::looks_like(text)
    {
        return Ok(Source::Registry);
    }
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let blueprint = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    if meta.is_dir() {
        if path.join("oci-layout").is_file() {
            return Ok(Source::Image);
        }
        bail!("{} is a directory but not an OCI image layout (no oci-layout file)", path.display());
    }
    // A blueprint may come through a pipe (`<(…)`); an image is read as a regular file
    // only, so that opening a FIFO cannot wait forever for a writer.
    if !meta.is_file() && blueprint {
        return Ok(Source::Blueprint);
    }
    let image =
        image::starts_as_image(path).with_context(|| format!("cannot open {}", path.display()))?;
    if image {
        return Ok(Source::Image);
    }
    if blueprint {
        return Ok(Source::Blueprint);
    }
    if meta.len() == 0 {
        bail!(
            "{}: the file is empty, which is neither a blueprint (.yaml, .yml) nor an image",
            path.display()
        );
    }
    bail!(
        "{}: neither a blueprint (.yaml, .yml) nor an image (an OCI layout directory, a \
         docker-archive, a layer .tar, .tar.gz or .tar.zst)",
        path.display()
    );
}

/// FUSE needs the kernel's device and the setuid helper that mounts and unmounts.
fn check_fuse() -> anyhow::Result<()> {
    if !Path::new("/dev/fuse").exists() {
        bail!(
            "/dev/fuse is missing: load the kernel module (modprobe fuse), or in a container \
             pass the device (--device /dev/fuse); the tools come with apt-get install fuse3"
        );
    }
    if find_command("fusermount3").is_none() {
        bail!("fusermount3 is not installed; it comes with FUSE 3 (apt-get install fuse3)");
    }
    // The mount opens the device itself and does not fall back to fusermount3 when it may
    // not, which would otherwise surface as a bare "Permission denied" about the mountpoint.
    if let Err(error) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse")
        && matches!(error.kind(), std::io::ErrorKind::PermissionDenied)
    {
        bail!(
            "cannot open /dev/fuse ({error}): mounting needs read and write access to \
             /dev/fuse; run as a user who has it (its owner or group), or as root"
        );
    }
    Ok(())
}

/// An exclusive lock on the directory `mountpoint` (the one under any mount to come), held
/// from the last check of the mountpoint until the mount is made, so that of two `flatroot
/// mount`s of one place the second finds the first's mount, not an empty directory.
fn claim(mountpoint: &Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let mp = mountpoint.display();
    let dir = std::fs::File::open(mountpoint).with_context(|| format!("mountpoint {mp}"))?;
    nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("cannot lock mountpoint {mp}"))
}

/// The mountpoint must be an empty directory, and not a mount whose server died. Messages
/// name it as `shown`, as the user gave it, whichever form of it is checked.
fn check_mountpoint(mountpoint: &Path, shown: &Path) -> anyhow::Result<()> {
    let mp = shown.display();
    let meta = match std::fs::metadata(mountpoint) {
        Ok(meta) => meta,
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => bail!(
            "{mp} is a stale FUSE mount whose server is gone; clear it with \
             `flatroot umount {}`",
            shell_word(shown)
        ),
        Err(e) => return Err(e).with_context(|| format!("mountpoint {mp}")),
    };
    if !meta.is_dir() {
        bail!("mountpoint {mp} is not a directory");
    }
    // Said before "not empty", which an active mount's files would make it; asked again
    // after listing, since another `flatroot mount` may have mounted in between.
    let already_mounted = || match flatroot_mount_on(mountpoint) {
        Some(source) => bail!(
            "{mp} is already mounted ({source}); `flatroot umount {}` unmounts it",
            shell_word(shown)
        ),
        None => Ok(()),
    };
    already_mounted()?;
    let mut entries =
        std::fs::read_dir(mountpoint).with_context(|| format!("cannot list mountpoint {mp}"))?;
    if entries.next().is_some() {
        already_mounted()?;
        bail!("mountpoint {mp} is not empty");
    }
    Ok(())
}

/// The source of the `flatroot mount` on `dir` now, if there is one.
fn flatroot_mount_on(dir: &Path) -> Option<String> {
    let (dir, mounts) = (mountinfo::resolve(dir).ok()?, mountinfo::read().ok()?);
    mountinfo::on(&mounts, &dir).filter(|m| m.is_flatroot()).map(|m| m.source.clone())
}

/// `path` as a shell reads it back as one word: as it is when it holds nothing a shell
/// treats specially, else in single quotes, so that a command the user is told to run can be
/// pasted as shown.
fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.into_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn find_command(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The host's architecture in flatroot's terms, if it knows it.
fn host_arch() -> Option<Arch> {
    Arch::from_name(std::env::consts::ARCH)
}

/// Resolves and unpacks one architecture of a blueprint in memory.
fn blueprint_tree(args: &MountArgs) -> anyhow::Result<(FrozenTree, String)> {
    let archs: Vec<String> = args.arch.iter().map(|a| apk_arch_of(a)).collect::<Result<_, _>>()?;
    let plan = options::plan(&args.source, &archs, &args.repos)?;
    let opts = options::tree_options(args.source_date_epoch, args.jobs, &args.repos)?;
    let host = host_arch().map(Arch::apk_name);
    let arch = match host {
        Some(host) if args.arch.is_none() && plan.archs.iter().any(|a| a == host) => host,
        _ => plan.archs.first().map(String::as_str).context("the blueprint names no arch")?,
    }
    .to_string();

    let keyring = build::load_keyring(&plan, &opts)?;
    let pool = rayon_pool(opts.jobs)?;
    let spinner = Spinner::new();
    let built = build::build_tree(&plan, &opts, &arch, &keyring, &pool, &spinner, None);
    spinner.finish();
    let built = built.with_context(|| format!("building {} for {arch}", args.source.display()))?;
    if built.unverified {
        output::warn("the tree was built from input that was not verified (--allow-untrusted)");
    }
    let mut tree = built.tree;
    // The build clamps package files' times only as it writes the layer; the mount shows
    // what that layer would hold.
    if let Some(limit) = opts.source_date_epoch {
        tree.clamp_mtimes(limit);
    }
    Ok((tree, format!("{} ({arch})", args.source.display())))
}

/// The apk architecture `--arch NAME` asks a blueprint to be built for: NAME in either
/// spelling, or a platform as images name it (`linux/arm64`, `arm64/v8`) that only one
/// architecture flatroot knows is.
fn apk_arch_of(name: &str) -> anyhow::Result<String> {
    if let Some(arch) = Arch::from_name(name) {
        return Ok(arch.apk_name().to_string());
    }
    let unknown = || anyhow::anyhow!("--arch {name:?}: unknown architecture");
    let platform = image::platform_of_name(name).map_err(anyhow::Error::msg)?;
    let archs = Arch::ALL.into_iter().filter(|a| image::platform_matches(&platform, &a.oci_name()));
    match archs.collect::<Vec<_>>().as_slice() {
        [] => Err(unknown()),
        [arch] => Ok(arch.apk_name().to_string()),
        several => {
            let names: Vec<String> =
                several.iter().map(|a| format!("{} ({})", a.apk_name(), a.oci_name())).collect();
            bail!("--arch {name:?} is any of {}: pick one", names.join(", "))
        }
    }
}

/// The first Linux image of `views`, read from `source`, when none was asked for and the
/// host's platform is not there.
fn first_linux(views: &[image::ImageView], source: &Path) -> anyhow::Result<usize> {
    image::first_linux(views).with_context(|| {
        format!(
            "{}: no Linux image (it has {}); flatroot reads Linux images only",
            source.display(),
            image::platforms_of(views)
        )
    })
}

fn rayon_pool(jobs: usize) -> anyhow::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .thread_name(|i| format!("flatroot-unpack-{i}"))
        .build()
        .context("cannot start the unpack threads")
}

/// Reads an image (from a file, or pulled from a registry) and picks one of its platforms.
fn image_tree(args: &MountArgs, source: Source) -> anyhow::Result<(FrozenTree, String)> {
    // A registry's layers are fetched when the picked image's tree is read, below: the
    // spinner stays until then.
    let mut spinner = None;
    let views = if source == Source::Registry {
        let text = args.source.to_string_lossy();
        let reference = registry::Reference::parse(&text)?;
        spinner = Some(Spinner::new());
        let limits = args.repos.limits.limits();
        let mut options = args.registry.options_with(&args.repos.fetch)?;
        options.jobs = args.jobs.unwrap_or(options.jobs).max(1);
        registry::pull::open_image(&reference, &options, &limits)
            .with_context(|| format!("cannot pull the image {reference}"))?
    } else {
        image::open_arg(&args.source, &args.repos.limits.limits())
            .with_context(|| format!("cannot read the image {}", args.source.display()))?
    };
    let wanted = match &args.arch {
        Some(name) => Some(image::platform_of_name(name).map_err(anyhow::Error::msg)?),
        None => None,
    };
    // A bare layer has no platform: it is what there is, whatever --arch says. Images match
    // by platform (`arm/v7` for armv7); one that names no variant matches any, and the
    // ambiguity check below asks which is meant when that leaves several.
    let bare = views.iter().position(|v| v.arch.is_empty());
    let host = host_arch().map(Arch::oci_name);
    let (index, asked) = match (wanted, host) {
        (Some(wanted), _) => {
            let index =
                bare.or_else(|| image::position_of(&views, &wanted)).with_context(|| {
                    format!(
                        "{}: no image for architecture {wanted:?} (it has {})",
                        args.source.display(),
                        image::platforms_of(&views)
                    )
                })?;
            (index, Some(wanted))
        }
        (None, Some(host)) => match bare.or_else(|| image::position_of(&views, &host)) {
            Some(index) => (index, Some(host)),
            None => (first_linux(&views, &args.source)?, None),
        },
        (None, None) => (first_linux(&views, &args.source)?, None),
    };
    image::only_one_of_its_platform(&views, index, asked.as_deref(), &args.source)?;
    let Some(view) = views.into_iter().nth(index) else {
        bail!("{} holds no image", args.source.display());
    };
    let label = if view.arch.is_empty() {
        args.source.display().to_string()
    } else {
        format!("{} ({})", args.source.display(), view.platform())
    };
    let tree =
        view.tree().with_context(|| format!("cannot read the image {}", args.source.display()))?;
    drop(spinner);
    Ok((tree, label))
}

/// Runs this command again as a detached server and waits until it says the mount is
/// ready; then prints its pid and returns.
///
/// The server runs in a session of its own, out of reach of the terminal's signals, so a
/// SIGINT, SIGTERM or SIGHUP that ends this process before the mount is ready is passed on
/// to it: this process waits for the server to end (unmounting, if it had mounted) and
/// exits with 128 + the signal's number, leaving no mount and no server behind.
fn detach() -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the flatroot executable")?;
    let args: Vec<std::ffi::OsString> =
        std::env::args_os().skip(1).filter(|a| a != "--background").collect();
    // Blocked before the server exists, so that no signal can come between its start and
    // the thread that passes signals on (the server starts with an empty mask).
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(signal);
    }
    signals.thread_block().context("cannot block signals")?;
    let mut child = Command::new(exe)
        .args(args)
        .arg("--background-child")
        .env(LAUNCHER_VAR, std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start the mount server")?;
    let stdout = child.stdout.take().context("the mount server has no stdout")?;
    // Whether the outcome is decided: held by whichever of this thread (the server's
    // answer) and the signal thread comes first, so that the process ends one way only.
    let decided = Arc::new(Mutex::new(false));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let watcher = Arc::clone(&decided);
    std::thread::Builder::new()
        .name("flatroot-signals".to_string())
        .spawn(move || stop_server_on_signals(signals, pid, &watcher))
        .context("cannot start the signal thread")?;

    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    // From here a signal no longer touches the server: it has answered, ready or ended.
    let mut decided = decided.lock().unwrap_or_else(|p| p.into_inner());
    *decided = true;
    read.context("reading from the mount server")?;
    if line.trim() == "ready" {
        output::data(&child.id().to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let status = child.wait().context("waiting for the mount server")?;
    // A server that exited with an error has printed it on the shared stderr: its status is
    // this command's, and a second message would only repeat it.
    if let Some(code) = status.code().filter(|&code| code != 0) {
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(2)));
    }
    bail!("the mount server ended before the mount was ready ({status})");
}

/// The `--background` parent's signal thread: on SIGINT, SIGTERM or SIGHUP before the
/// server's answer, sends SIGTERM to the server (which ends at once before it has mounted,
/// and unmounts first after), waits for it and exits with 128 + the signal's number.
fn stop_server_on_signals(signals: SigSet, server: nix::unistd::Pid, decided: &Mutex<bool>) {
    let Ok(signal) = signals.wait() else { return };
    let decided = decided.lock().unwrap_or_else(|p| p.into_inner());
    if !*decided {
        tracing::debug!(?signal, %server, "stopping the mount server");
        let _ = nix::sys::signal::kill(server, Signal::SIGTERM);
        // Reaped here; the main thread, holding no lock, never waits for it again.
        let _ = nix::sys::wait::waitpid(server, None);
    }
    std::process::exit(128 + signal as i32);
}

/// The variable through which `--background` tells its server the launcher's pid.
const LAUNCHER_VAR: &str = "FLATROOT_MOUNT_LAUNCHER";

/// Makes the `--background` server end (SIGTERM: no mount is left) if its launcher dies
/// before the mount is announced, even by SIGKILL, which the launcher cannot pass on; ends
/// at once if the launcher is gone already.
fn die_with_launcher() -> anyhow::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).context("cannot watch the launcher")?;
    let launcher = std::env::var(LAUNCHER_VAR).ok().and_then(|pid| pid.parse::<i32>().ok());
    if launcher != Some(nix::unistd::getppid().as_raw()) {
        bail!("the `flatroot mount --background` that started this server is gone");
    }
    Ok(())
}

/// Tells the waiting `--background` parent that the mount is up, then lets go of the
/// terminal: the daemon's stdin, stdout and stderr become /dev/null. From here the server
/// outlives its launcher.
fn announce_ready() -> anyhow::Result<()> {
    nix::sys::prctl::set_pdeathsig(None).context("cannot stop watching the launcher")?;
    output::data("ready")?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("cannot open /dev/null")?;
    use std::os::fd::AsRawFd as _;
    for fd in 0..=2 {
        nix::unistd::dup2(null.as_raw_fd(), fd).context("cannot detach from the terminal")?;
    }
    Ok(())
}

/// Waits for SIGINT, SIGTERM or SIGHUP. Before the mount exists the process just ends;
/// after, the mount is detached lazily, so `serve` returns once no file is open there any
/// more. A second signal ends the process at once (open files then fail with ENOTCONN).
fn watch_signals(signals: SigSet, mounted: &Mutex<Option<PathBuf>>) {
    let mut detached = false;
    while let Ok(signal) = signals.wait() {
        let slot = mounted.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mountpoint) = slot.as_ref() else {
            std::process::exit(128 + signal as i32);
        };
        if detached {
            std::process::exit(128 + signal as i32);
        }
        tracing::debug!(?signal, "unmounting");
        if let Err(error) = fuse::unmount_lazily(mountpoint) {
            output::warn(&format!("{error:#}"));
            std::process::exit(2);
        }
        detached = true;
        // The server ends as soon as the kernel lets go of the mount; a process with files
        // open there holds it, and the user is told why nothing ends yet.
        let mountpoint = mountpoint.display().to_string();
        let waiting = std::thread::Builder::new().name("flatroot-unmounting".to_string());
        let _ = waiting.spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(1));
            output::note(&format!(
                "unmounted {mountpoint}; files still open there are served until they are \
                 closed (another signal ends the server now)"
            ));
        });
    }
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_shown_as_one_shell_word() {
        assert_eq!(shell_word(Path::new("/tmp/m-1_x.y")), "/tmp/m-1_x.y");
        assert_eq!(shell_word(Path::new("sp ace")), "'sp ace'");
        assert_eq!(shell_word(Path::new("it's")), r"'it'\''s'");
        assert_eq!(shell_word(Path::new("$HOME/*")), "'$HOME/*'");
        assert_eq!(shell_word(Path::new("")), "''");
    }

    #[test]
    fn a_blueprint_is_built_for_the_one_apk_arch_an_arch_or_platform_names() {
        let apk = |name| apk_arch_of(name).map_err(|e| e.to_string());
        assert_eq!(apk("aarch64"), Ok("aarch64".to_string()));
        assert_eq!(apk("arm/v7"), Ok("armv7".to_string()));
        assert_eq!(apk("linux/arm64"), Ok("aarch64".to_string()));
        assert_eq!(apk("arm64/v8"), Ok("aarch64".to_string()));
        let want = "--arch \"arm\" is any of armhf (arm/v6), armv7 (arm/v7): pick one";
        assert_eq!(apk("arm"), Err(want.to_string()));
        assert_eq!(apk("bogus"), Err("--arch \"bogus\": unknown architecture".to_string()));
        assert_eq!(apk("Bad Name"), Err("--arch \"Bad Name\": unknown architecture".to_string()));
    }
}
