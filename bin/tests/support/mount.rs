//! Mounting with `flatroot mount` in tests: a guard that always unmounts, commands run
//! under `timeout`, and listings of what `find`, `stat`, `cat`, `readlink` and `getfattr`
//! see on a mount, in the same form as [`super::list_tree`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use flatroot_benches::testenv;
use flatroot_vfs::FrozenTree;

use super::*;

/// How long any one command reading the mount may take.
pub const TIMEOUT: &str = "60";

/// Whether FUSE can be used here; a loud skip otherwise.
pub fn fuse_available(test: &str) -> bool {
    if !Path::new("/dev/fuse").exists() {
        testenv::missing(test, "/dev/fuse (modprobe fuse, or --device /dev/fuse)");
        return false;
    }
    testenv::command_for(test, "fusermount3", "fuse3").is_some()
        && testenv::command_for(test, "timeout", "coreutils").is_some()
}

/// A running `flatroot mount` and its mountpoint; dropping it always unmounts.
pub struct Mounted {
    pub server: Option<Child>,
    pub mountpoint: PathBuf,
    log: PathBuf,
    /// Whether the tree was built from a blueprint (whose root has a time a layer lacks).
    root_from_build: bool,
    _dir: tempfile::TempDir,
}

impl Mounted {
    /// Mounts `source` (relative to the repository root or absolute) with extra arguments,
    /// and waits until the mount is in the mount table.
    pub fn start(source: &Path, extra: &[&str]) -> Mounted {
        let dir = tempdir();
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).unwrap();
        let log = dir.path().join("server.log");
        let server = flatroot()
            .arg("mount")
            .arg(source)
            .arg(&mountpoint)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("server.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let root_from_build = source.extension().is_some_and(|e| e == "yaml");
        let mut mounted =
            Mounted { server: Some(server), mountpoint, log, root_from_build, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !is_mounted(&mounted.mountpoint) {
            if let Some(status) = mounted.server.as_mut().unwrap().try_wait().unwrap() {
                panic!("the server ended ({status}) before mounting: {}", mounted.log_text());
            }
            assert!(Instant::now() < deadline, "no mount after 120 s: {}", mounted.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        mounted
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mountpoint.join(rel)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.server.as_ref().unwrap().id()
    }

    /// Waits up to `secs` for the server to end and returns its exit status.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.server.as_mut().unwrap().try_wait().unwrap() {
                self.server = None;
                return status;
            }
            assert!(Instant::now() < deadline, "the server still runs after {secs} s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .args(["-u", "-z", "-q", "--"])
            .arg(&self.mountpoint)
            .stderr(Stdio::null())
            .status();
        if let Some(mut server) = self.server.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while server.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Whether `path` is a mountpoint, from the kernel's mount table (never touching the mount).
pub fn is_mounted(path: &Path) -> bool {
    let table = std::fs::read("/proc/self/mountinfo").unwrap();
    let wanted = path.as_os_str().as_bytes();
    table.split(|b| *b == b'\n').any(|line| line.split(|b| *b == b' ').nth(4) == Some(wanted))
}

/// Runs `flatroot mount SOURCE MOUNTPOINT ARGS…` from the project's root under `timeout`:
/// for a mount that must fail or go to the background, so that one that stays in the
/// foreground by mistake fails the test instead of hanging it.
pub fn mount_under_timeout(source: &Path, mountpoint: &Path, args: &[&str]) -> Output {
    super::run(
        Command::new("timeout")
            .arg(TIMEOUT)
            .arg(env!("CARGO_BIN_EXE_flatroot"))
            .current_dir(super::root())
            .arg("mount")
            .arg(source)
            .arg(mountpoint)
            .args(args),
    )
}

/// Runs a mount that must be refused (see [`mount_under_timeout`]): asserts that it exits
/// with status 2 and leaves nothing mounted on `mountpoint`, and returns its stderr.
pub fn mount_refused(source: &Path, mountpoint: &Path, args: &[&str]) -> String {
    let output = mount_under_timeout(source, mountpoint, args);
    let text = super::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{} {args:?}: {text}", source.display());
    assert!(!is_mounted(mountpoint), "{} was mounted", mountpoint.display());
    text
}

/// Runs a command under `timeout`.
pub fn timed(program: &str, args: &[&OsStr]) -> Output {
    let output = Command::new("timeout").arg(TIMEOUT).arg(program).args(args).output().unwrap();
    assert_ne!(output.status.code(), Some(124), "{program} {args:?} timed out");
    output
}

/// What the mount shows of one entry beyond the common listing.
#[derive(Debug, PartialEq, Eq)]
pub struct Extra {
    /// `st_ino`.
    pub inode: u64,
    /// `st_nlink`.
    pub nlink: u64,
    /// `secs.nanoseconds`, nine digits.
    pub mtime: String,
}

/// Lists the mount with `find`, `stat` and `cat`, in the support module's form, and the
/// inode, link count and full mtime of each entry, keyed by raw path bytes.
pub fn list_mount(mountpoint: &Path) -> (Listing, BTreeMap<Vec<u8>, Extra>) {
    let format = "%P\\0%y\\0%m\\0%U\\0%G\\0%s\\0%l\\0%i\\0%n\\0%T@\\0";
    let found = timed("find", &[mountpoint.as_os_str(), OsStr::new("-printf"), OsStr::new(format)]);
    assert!(found.status.success(), "find: {}", stderr(&found));
    let fields: Vec<&[u8]> = found.stdout.split(|b| *b == 0).collect();
    let mut listing = Listing::new();
    let mut extras = BTreeMap::new();
    for record in fields.chunks_exact(10) {
        let text = |i: usize| String::from_utf8_lossy(record[i]).into_owned();
        let rel = record[0].to_vec();
        let full = mountpoint.join(OsStr::from_bytes(&rel));
        let (kind, size, link, sha) = match record[1] {
            b"d" => ("dir", String::new(), String::new(), String::new()),
            b"f" => {
                let cat = timed("cat", &[full.as_os_str()]);
                assert!(cat.status.success(), "cat {}: {}", full.display(), stderr(&cat));
                let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&cat.stdout));
                assert_eq!(cat.stdout.len().to_string(), text(5), "{}", full.display());
                ("file", text(5), String::new(), sha)
            }
            b"l" => {
                let readlink = timed("readlink", &[full.as_os_str()]);
                let target = String::from_utf8_lossy(&readlink.stdout).trim_end().to_string();
                assert_eq!(target, text(6), "readlink and find agree on {}", full.display());
                assert_eq!(text(5), record[6].len().to_string(), "a symlink's size");
                ("symlink", String::new(), target, String::new())
            }
            kind @ (b"c" | b"b") => {
                let stat =
                    timed("stat", &[OsStr::new("-c"), OsStr::new("%t %T"), full.as_os_str()]);
                let numbers: Vec<u64> = String::from_utf8_lossy(&stat.stdout)
                    .split_whitespace()
                    .map(|h| u64::from_str_radix(h, 16).unwrap())
                    .collect();
                let kind = if kind == b"c" { "char" } else { "block" };
                (kind, String::new(), format!("{},{}", numbers[0], numbers[1]), String::new())
            }
            b"p" => ("fifo", String::new(), String::new(), String::new()),
            other => panic!("unexpected type {other:?} at {}", full.display()),
        };
        let (secs, frac) =
            text(9).split_once('.').map(|(s, f)| (s.to_string(), f.to_string())).unwrap();
        let mode = u32::from_str_radix(&text(2), 8).unwrap();
        let line = vec![
            kind.to_string(),
            format!("{mode:04o}"),
            text(3),
            text(4),
            size,
            link,
            sha,
            secs.clone(),
        ];
        let key = format!("/{}", String::from_utf8_lossy(&rel));
        listing.insert(if key == "/" { key } else { key.trim_end_matches('/').to_string() }, line);
        let extra = Extra {
            inode: text(7).parse().unwrap(),
            nlink: text(8).parse().unwrap(),
            mtime: format!("{secs}.{}", &frac[..9]),
        };
        extras.insert(rel, extra);
    }
    (listing, extras)
}

/// The extras the tree promises, keyed like [`list_mount`]'s.
pub fn tree_extras(tree: &FrozenTree) -> BTreeMap<Vec<u8>, Extra> {
    tree.walk()
        .map(|entry| {
            let node = tree.node(entry.node);
            let extra = Extra {
                inode: tree.inode(entry.node),
                nlink: u64::from(tree.nlink(entry.node)),
                mtime: format!("{}.{:09}", node.meta.mtime.secs, node.meta.mtime.nanos),
            };
            (entry.path.to_vec(), extra)
        })
        .collect()
}

/// `getfattr -R -d` of the mount: path bytes to (name, hex value) lists.
pub fn getfattr_all(mountpoint: &Path) -> BTreeMap<Vec<u8>, Vec<(String, String)>> {
    let args = ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"];
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(mountpoint.as_os_str());
    let output = timed("getfattr", &all);
    assert!(output.status.success(), "getfattr: {}", stderr(&output));
    let prefix = [mountpoint.as_os_str().as_bytes(), b"/"].concat();
    let mut out: BTreeMap<Vec<u8>, Vec<(String, String)>> = BTreeMap::new();
    let mut current = Vec::new();
    for line in output.stdout.split(|b| *b == b'\n') {
        if let Some(path) = line.strip_prefix(b"# file: ") {
            let path = unescape(path);
            current = path.strip_prefix(prefix.as_slice()).unwrap_or_default().to_vec();
        } else if let Some(eq) = line.iter().position(|b| *b == b'=') {
            let name = String::from_utf8_lossy(&line[..eq]).into_owned();
            let value = String::from_utf8_lossy(&line[eq + 1..]).into_owned();
            out.entry(current.clone()).or_default().push((name, value));
        }
    }
    out
}

/// Undoes getfattr's escapes of path bytes (`\ooo` octal, `\\`).
pub fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' && text.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if text[i] == b'\\'
            && i + 3 < text.len()
            && text[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let octal = std::str::from_utf8(&text[i + 1..i + 4]).unwrap();
            out.push(u8::from_str_radix(octal, 8).unwrap());
            i += 4;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// The tree's xattrs in getfattr's form.
pub fn tree_xattrs(tree: &FrozenTree) -> BTreeMap<Vec<u8>, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    for entry in tree.walk() {
        let xattrs = &tree.node(entry.node).meta.xattrs;
        if xattrs.is_empty() || entry.path.is_empty() {
            continue;
        }
        let list = xattrs
            .iter()
            .map(|(k, v)| {
                (String::from_utf8_lossy(k).into_owned(), format!("0x{}", hex::encode(v)))
            })
            .collect();
        out.insert(entry.path.to_vec(), list);
    }
    out
}

/// Asserts that the mount shows exactly `tree`, entry by entry, on every field.
pub fn assert_mount_shows(mounted: &Mounted, tree: &FrozenTree, with_getfattr: bool) {
    let (mut listing, mut extras) = list_mount(&mounted.mountpoint);
    if mounted.root_from_build {
        // A layer has no entry for the root, so the root's time read back from it is zero,
        // while a tree built from a blueprint keeps its build time; the rest must agree.
        let want = tree.node(tree.root()).meta.mtime;
        listing.get_mut("/").unwrap()[MTIME] = want.secs.to_string();
        extras.get_mut(&Vec::new()).unwrap().mtime = format!("{}.{:09}", want.secs, want.nanos);
    }
    let diffs = differences(&list_tree(tree), &listing, &[]);
    assert!(diffs.is_empty(), "{} differences:\n{}", diffs.len(), diffs.join("\n"));
    let expected = tree_extras(tree);
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(path, want)| extras.get(*path) != Some(want))
        .map(|(path, want)| {
            format!(
                "{:?}: want {want:?}, have {:?}",
                path.escape_ascii().to_string(),
                extras.get(path)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "inode, nlink or mtime differ:\n{}", wrong.join("\n"));
    if with_getfattr {
        assert_eq!(getfattr_all(&mounted.mountpoint), tree_xattrs(tree), "xattrs");
    }
}

pub fn getfattr_or_skip(test: &str) -> bool {
    testenv::command_for(test, "getfattr", "attr").is_some()
}

/// Unmounts `mountpoint` lazily when dropped.
pub struct Unmounter(pub PathBuf);

impl Drop for Unmounter {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").args(["-u", "-z", "-q", "--"]).arg(&self.0).status();
    }
}

pub fn scopeguard(path: &Path) -> Unmounter {
    Unmounter(path.to_path_buf())
}

pub fn nix_kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on the server this test started.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0);
}
