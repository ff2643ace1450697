//! `flatroot mount` and `umount` through real FUSE, as processes: foreground and background
//! servers, signals before and after the mount is ready, what `umount` will and will not
//! unmount, and the messages for mountpoints and systems that cannot mount.
//!
//! Every test unmounts through a guard (`fusermount3 -uz`, then the server is killed) even
//! when it fails, and every command that reads the mount runs under `timeout`: a FUSE server
//! that stops answering leaves its readers in uninterruptible sleep.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use flatroot_benches::testenv;
use support::mount::*;
use support::*;

const BLUEPRINT: &str = "testdata/blueprint.yaml";

#[test]
fn umount_with_a_file_open_is_busy_and_lazy_umount_waits_for_it() {
    let name = "umount_with_a_file_open_is_busy_and_lazy_umount_waits_for_it";
    if !fuse_available(name) {
        return;
    }
    let mut mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
    let mut held = std::fs::File::open(mounted.path("etc/os-release")).unwrap();

    let busy = run(flatroot().arg("umount").arg(&mounted.mountpoint));
    assert_eq!(busy.status.code(), Some(2));
    assert!(stderr(&busy).contains("--lazy"), "{}", stderr(&busy));
    assert!(is_mounted(&mounted.mountpoint), "a busy mount stays");

    let lazy = run(flatroot().args(["umount", "--lazy"]).arg(&mounted.mountpoint));
    assert!(lazy.status.success(), "{}", stderr(&lazy));
    assert!(!is_mounted(&mounted.mountpoint), "lazy unmount detaches at once");
    // The open file still reads, and the server waits for it to be closed.
    let mut text = String::new();
    std::io::Read::read_to_string(&mut held, &mut text).unwrap();
    assert!(text.contains("ID=flatroot"), "{text}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(mounted.server.as_mut().unwrap().try_wait().unwrap().is_none(), "server still serves");
    drop(held);
    assert!(mounted.wait_exit(20).success(), "{}", mounted.log_text());
}

#[test]
fn background_mode_prints_the_pid_and_ends_on_umount_even_through_a_symlink() {
    let name = "background_mode_prints_the_pid_and_ends_on_umount_even_through_a_symlink";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let output = mount_under_timeout(
        Path::new(BLUEPRINT),
        &mountpoint,
        &["--arch", "x86_64", "--background"],
    );
    let guard = scopeguard(&mountpoint);
    let pid: u32 = success(&output).parse().unwrap();
    assert!(is_mounted(&mountpoint), "mounted once --background returns");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        stdout(&timed("cat", &[mountpoint.join("etc/apk/arch").as_os_str()])).contains("x86_64")
    );
    // Through a symlink to it, as umount(8) follows one; a path with nothing there is named.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&mountpoint, &link).unwrap();
    let missing = run(flatroot().arg("umount").arg(dir.path().join("nothing")));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("No such file or directory"), "{}", stderr(&missing));
    let umount = run(flatroot().arg("umount").arg(&link));
    assert!(umount.status.success(), "{}", stderr(&umount));
    assert!(!is_mounted(&mountpoint), "unmounted through the link");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}/status")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .contains("State:\tZ")
    {
        assert!(Instant::now() < deadline, "the daemon still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(guard);
}

#[test]
fn a_background_server_that_fails_is_reported_once_with_its_exit_status() {
    let name = "a_background_server_that_fails_is_reported_once_with_its_exit_status";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let _guard = scopeguard(&mountpoint);
    let args = ["--arch", "bogus", "--background"];
    let text = mount_refused(Path::new(BLUEPRINT), &mountpoint, &args);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors, ["error: --arch \"bogus\": unknown architecture"], "{text}");
}

#[test]
fn an_empty_layer_tar_mounts_as_an_empty_root_as_diff_reads_it() {
    let name = "an_empty_layer_tar_mounts_as_an_empty_root_as_diff_reads_it";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    // What `tar cf empty.tar -T /dev/null` writes: a record of zeros and no header at all.
    let layer = dir.path().join("empty.tar");
    std::fs::write(&layer, vec![0u8; 10240]).unwrap();

    let mounted = Mounted::start(&layer, &[]);
    let listing: Vec<_> = std::fs::read_dir(mounted.path("")).unwrap().collect();
    assert!(listing.is_empty(), "{listing:?}");
    drop(mounted);
    let output = run(flatroot().arg("diff").arg(&layer).arg(&layer));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // Zeros shorter than one tar block are no tar.
    let short = dir.path().join("short.tar");
    std::fs::write(&short, vec![0u8; 511]).unwrap();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let _guard = scopeguard(&mountpoint);
    let text = mount_refused(&short, &mountpoint, &[]);
    assert!(text.contains("neither a blueprint"), "{text}");

    // An empty file is said to be one, as diff says it.
    let empty = dir.path().join("empty-file.tar");
    std::fs::write(&empty, b"").unwrap();
    let text = mount_refused(&empty, &mountpoint, &[]);
    assert!(text.contains("empty-file.tar: the file is empty, which is neither"), "{text}");
}

#[test]
fn bad_sources_and_mountpoints_give_clear_errors_and_no_mount() {
    let name = "bad_sources_and_mountpoints_give_clear_errors_and_no_mount";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let _guard = scopeguard(&mountpoint);
    let corrupt = dir.path().join("corrupt.tar.gz");
    let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    bytes.extend((0..4096u32).map(|i| (i * 31) as u8));
    std::fs::write(&corrupt, bytes).unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not an image\n").unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), "").unwrap();

    let cases: [(&Path, &Path, &str); 4] = [
        (&corrupt, &mountpoint, "cannot be decompressed"),
        (&notes, &mountpoint, "neither a blueprint"),
        (Path::new(BLUEPRINT), &full, "is not empty"),
        (Path::new(BLUEPRINT), &dir.path().join("absent"), "mountpoint"),
    ];
    for (source, target, message) in cases {
        let text = mount_refused(source, target, &[]);
        assert!(text.contains(message), "{}: {text}", source.display());
    }
}

#[test]
fn a_stale_mount_is_reported_with_the_command_that_clears_it() {
    let name = "a_stale_mount_is_reported_with_the_command_that_clears_it";
    if !fuse_available(name) {
        return;
    }
    let mut mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
    // SIGKILL leaves the mount behind without a server: stat gives ENOTCONN.
    nix_kill(mounted.pid(), libc::SIGKILL);
    let _ = mounted.wait_exit(10);
    assert!(is_mounted(&mounted.mountpoint));
    let output = mount_under_timeout(Path::new(BLUEPRINT), &mounted.mountpoint, &[]);
    assert_eq!(output.status.code(), Some(2));
    let want = format!("`flatroot umount {}`", mounted.mountpoint.display());
    assert!(
        stderr(&output).contains("stale") && stderr(&output).contains(&want),
        "{}",
        stderr(&output)
    );
    // And the command named does clear it.
    let umount = run(flatroot().arg("umount").arg(&mounted.mountpoint));
    assert!(umount.status.success(), "{}", stderr(&umount));
    assert!(!is_mounted(&mounted.mountpoint));
}

#[test]
fn umount_does_not_wait_for_a_server_that_stopped_answering() {
    let name = "umount_does_not_wait_for_a_server_that_stopped_answering";
    if !fuse_available(name) {
        return;
    }
    for lazy in [false, true] {
        let mut mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
        // A stopped server answers nothing: any look into the mount would wait for it.
        nix_kill(mounted.pid(), libc::SIGSTOP);

        let mut umount = Command::new("timeout");
        umount.args(["-s", "KILL", "60"]).arg(flatroot().get_program()).arg("umount");
        if lazy {
            umount.arg("--lazy");
        }
        let output = run(umount.arg(&mounted.mountpoint));
        nix_kill(mounted.pid(), libc::SIGCONT);
        assert!(output.status.success(), "lazy {lazy}: {:?} {}", output.status, stderr(&output));
        assert!(!is_mounted(&mounted.mountpoint), "lazy {lazy}");
        assert!(mounted.wait_exit(20).success(), "{}", mounted.log_text());
    }
}

#[test]
fn sigint_and_sighup_unmount_too() {
    let name = "sigint_and_sighup_unmount_too";
    if !fuse_available(name) {
        return;
    }
    for signal in [libc::SIGINT, libc::SIGHUP] {
        let mut mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
        nix_kill(mounted.pid(), signal);
        assert!(mounted.wait_exit(20).success(), "signal {signal}: {}", mounted.log_text());
        assert!(!is_mounted(&mounted.mountpoint), "signal {signal}");
    }

    // A file open there holds the server, and the user is told so.
    let mut mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
    let held = std::fs::File::open(mounted.path("etc/os-release")).unwrap();
    nix_kill(mounted.pid(), libc::SIGINT);
    let said = "files still open there are served until they are closed";
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mounted.log_text().contains(said) {
        assert!(Instant::now() < deadline, "no note: {}", mounted.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!is_mounted(&mounted.mountpoint), "detached at once");
    assert!(mounted.server.as_mut().unwrap().try_wait().unwrap().is_none(), "still serving");
    drop(held);
    assert!(mounted.wait_exit(20).success(), "{}", mounted.log_text());
}

#[test]
fn missing_fusermount3_is_an_error_that_says_how_to_get_it() {
    let name = "missing_fusermount3_is_an_error_that_says_how_to_get_it";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let _guard = scopeguard(&mountpoint);
    // A PATH without fusermount3 (the binary is named by its full path).
    let output =
        run(flatroot().args(["mount", BLUEPRINT]).arg(&mountpoint).env("PATH", dir.path()));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("apt-get install fuse3"), "{}", stderr(&output));
    assert!(!is_mounted(&mountpoint));
}

#[test]
fn umount_refuses_what_flatroot_did_not_mount() {
    let name = "umount_refuses_what_flatroot_did_not_mount";
    if !fuse_available(name) || testenv::command_for(name, "mount", "mount").is_none() {
        return;
    }
    let dir = tempdir();
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let output = run(flatroot().arg("umount").arg(&plain));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("{} is not mounted", plain.display())),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("Invalid argument"), "{}", stderr(&output));

    let tmpfs = dir.path().join("tmpfs");
    std::fs::create_dir(&tmpfs).unwrap();
    let made =
        Command::new("mount").args(["-t", "tmpfs", "flatroot-test-tmpfs"]).arg(&tmpfs).status();
    if !made.unwrap().success() {
        return testenv::missing(name, "the privilege to mount a tmpfs (root)");
    }
    let _guard = TmpfsGuard(tmpfs.clone());
    let output = run(flatroot().arg("umount").arg(&tmpfs));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("not a flatroot mount"), "{}", stderr(&output));
    assert!(is_mounted(&tmpfs), "the tmpfs is still mounted");
    let output = run(flatroot().args(["umount", "--lazy"]).arg(&tmpfs));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(is_mounted(&tmpfs), "and still after --lazy");
}

/// Unmounts a tmpfs the test mounted, when dropped.
struct TmpfsGuard(std::path::PathBuf);

impl Drop for TmpfsGuard {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The pids of the processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid …`: comm may hold spaces, so fields count from its `)`.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        if after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// Kills a `flatroot mount` process this test started, if it still runs, when dropped: only
/// while the pid is still a `flatroot mount`, never a process that took the pid over.
struct KillGuard(u32);

impl Drop for KillGuard {
    fn drop(&mut self) {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", self.0)).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let ours = args.first().is_some_and(|a| a.ends_with(b"flatroot"))
            && args.get(1) == Some(&&b"mount"[..]);
        if ours {
            // SAFETY: kill(2) on a `flatroot mount` this test started.
            unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
        }
    }
}

#[test]
fn a_signal_to_the_background_parent_before_the_mount_is_ready_stops_the_server() {
    let name = "a_signal_to_the_background_parent_before_the_mount_is_ready_stops_the_server";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    // A package large enough that unpacking it without the cache takes a while.
    let noise = text_noise(96 << 20, 3);
    let package = big_package("noise", noise);
    let repo = dir.path().join("repo");
    flatroot_benches::fixture::hostile::write_repository(&repo, &[package], &["big"]).unwrap();
    let blueprint = repo.join("blueprint.yaml");
    // SIGKILL cannot be passed on: the server notices its launcher's death by itself.
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGKILL] {
        let mountpoint = dir.path().join(format!("mnt-{signal}"));
        std::fs::create_dir(&mountpoint).unwrap();
        let _unmount = scopeguard(&mountpoint);
        let parent = flatroot()
            .arg("mount")
            .arg(&blueprint)
            .arg(&mountpoint)
            .args(["--background", "--no-cache", "--jobs", "1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _parent_guard = KillGuard(parent.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        let server = loop {
            if let Some(&pid) = children_of(parent.id()).first() {
                break pid;
            }
            assert!(Instant::now() < deadline, "no server was started");
            std::thread::sleep(Duration::from_millis(5));
        };
        let _server_guard = KillGuard(server);
        std::thread::sleep(Duration::from_millis(100));
        nix_kill(parent.id(), signal);
        let output = parent.wait_with_output().unwrap();
        if signal == libc::SIGKILL {
            use std::os::unix::process::ExitStatusExt as _;
            assert_eq!(output.status.signal(), Some(signal));
        } else {
            assert_eq!(output.status.code(), Some(128 + signal), "{}", stderr(&output));
        }
        assert_eq!(stdout(&output), "", "the mount was not ready yet");
        // The launcher reaps its server, except when killed: then init reaps it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while server_runs(server) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!server_runs(server), "signal {signal}: the server is gone");
        // A server left running would mount once it has unpacked: give it the time.
        std::thread::sleep(Duration::from_millis(500));
        assert!(!is_mounted(&mountpoint), "signal {signal}: nothing is mounted");
    }
}

/// Whether `pid` is a `flatroot mount` that has not ended (a zombie has ended).
fn server_runs(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    state.is_some_and(|s| s != "Z") && cmdline.windows(5).any(|w| w == b"mount")
}

#[test]
fn of_two_mounts_of_one_place_started_together_one_mounts_and_one_is_refused() {
    let name = "of_two_mounts_of_one_place_started_together_one_mounts_and_one_is_refused";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    for round in 0..3 {
        let mountpoint = dir.path().join(format!("mnt-{round}"));
        std::fs::create_dir(&mountpoint).unwrap();
        let _unmount = scopeguard(&mountpoint);
        let start = || {
            flatroot()
                .args(["mount", BLUEPRINT])
                .arg(&mountpoint)
                .args(["--background", "--arch", "x86_64"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = (start(), start());
        let outputs = [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()];
        let servers: Vec<KillGuard> =
            outputs.iter().filter_map(|o| stdout(o).trim().parse().ok()).map(KillGuard).collect();

        let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
        assert!(codes == [Some(0), Some(2)] || codes == [Some(2), Some(0)], "{codes:?}");
        let refused = outputs.iter().find(|o| o.status.code() == Some(2)).unwrap();
        assert!(stderr(refused).contains("is already mounted"), "{}", stderr(refused));
        assert_eq!(servers.len(), 1);
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let wanted = mountpoint.to_str().unwrap();
        let mounts = table.lines().filter(|l| l.split(' ').nth(4) == Some(wanted)).count();
        assert_eq!(mounts, 1, "round {round}: one mount, not two stacked");
        success(&run(flatroot().arg("umount").arg(&mountpoint)));
    }
}

#[test]
fn a_mountpoint_flatroot_already_serves_is_said_to_be_mounted() {
    let name = "a_mountpoint_flatroot_already_serves_is_said_to_be_mounted";
    if !fuse_available(name) {
        return;
    }
    let mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
    let output = run(flatroot().args(["mount", BLUEPRINT]).arg(&mounted.mountpoint));
    assert_eq!(output.status.code(), Some(2));
    let mp = mounted.mountpoint.display();
    // The source is named by its absolute path, whatever directory the mount was made from.
    let source = root().canonicalize().unwrap().join(BLUEPRINT);
    let source = source.display();
    let want = format!("{mp} is already mounted (flatroot:{source}); `flatroot umount {mp}`");
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    assert!(!stderr(&output).contains("not empty"), "{}", stderr(&output));
}

#[test]
fn umount_names_a_mount_nested_inside() {
    let name = "umount_names_a_mount_nested_inside";
    if !fuse_available(name) || testenv::command_for(name, "mount", "mount").is_none() {
        return;
    }
    let mounted = Mounted::start(Path::new(BLUEPRINT), &["--arch", "x86_64"]);
    let inner = mounted.path("etc");
    let made =
        Command::new("mount").args(["-t", "tmpfs", "flatroot-test-tmpfs"]).arg(&inner).status();
    if !made.unwrap().success() {
        return testenv::missing(name, "the privilege to mount a tmpfs (root)");
    }
    let guard = TmpfsGuard(inner.clone());
    let output = run(flatroot().arg("umount").arg(&mounted.mountpoint));
    assert_eq!(output.status.code(), Some(2));
    let want = format!("{} is mounted inside it", inner.display());
    assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    assert!(is_mounted(&mounted.mountpoint));
    drop(guard);
    let output = run(flatroot().arg("umount").arg(&mounted.mountpoint));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn a_user_without_access_to_dev_fuse_is_told_so() {
    let name = "a_user_without_access_to_dev_fuse_is_told_so";
    if !fuse_available(name) || testenv::command_for(name, "setpriv", "util-linux").is_none() {
        return;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return testenv::missing(name, "root, to run flatroot as another user");
    }
    let fuse = std::fs::metadata("/dev/fuse").unwrap();
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    if fuse.mode() & 0o006 != 0 {
        return testenv::missing(name, "a /dev/fuse that not every user may open");
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    std::fs::set_permissions(&mountpoint, std::fs::Permissions::from_mode(0o777)).unwrap();
    let _guard = scopeguard(&mountpoint);
    let output = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_flatroot"))
        .current_dir(root())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .args(["mount", BLUEPRINT])
        .arg(&mountpoint));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("cannot open /dev/fuse"), "{text}");
    assert!(text.contains("mounting needs read and write access to /dev/fuse"), "{text}");
    assert!(!is_mounted(&mountpoint));
}
