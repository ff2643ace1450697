//! How a mount serves: several requests inside the server at once, and an image's data held
//! in memory once, whatever form the image comes in.
//!
//! As in `mount.rs`, every mount is taken down by a guard and every reader has a watchdog: a
//! FUSE server that stops answering leaves its readers in uninterruptible sleep.
#![allow(
    clippy::unwrap_used,
    clippy::print_stderr,
    reason = "test code: a failed unwrap is a failed test, and skips are reported on stderr"
)]

mod support;

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use flatroot_vfs::fuse::{self, MountConfig};
use flatroot_vfs::tar::{LayerOptions, WriteSink, write_layer};
use flatroot_vfs::{Content, Metadata, SharedBuffer, Tree};
use support::mount::*;
use support::*;

/// Where reads of two files meet: a read of either waits inside the server until a read of
/// the other is inside it too, or until its patience runs out. With one worker thread they
/// can never meet.
struct Meeting {
    /// Whether reads wait at all (building the tree looks at the buffers too).
    armed: AtomicBool,
    /// Reads of each file inside the server now, and whether both were at some moment.
    state: Mutex<([usize; 2], bool)>,
    changed: Condvar,
    patience: Duration,
}

/// The bytes of one of the two files; handing them out is where a read waits.
struct Gate {
    meeting: Arc<Meeting>,
    side: usize,
    bytes: Vec<u8>,
}

impl AsRef<[u8]> for Gate {
    fn as_ref(&self) -> &[u8] {
        let meeting = &self.meeting;
        if meeting.armed.load(Ordering::SeqCst) {
            let mut state = meeting.state.lock().unwrap();
            state.0[self.side] += 1;
            if state.0[0] > 0 && state.0[1] > 0 {
                state.1 = true;
                meeting.changed.notify_all();
            }
            let deadline = Instant::now() + meeting.patience;
            while !state.1 && Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                state = meeting.changed.wait_timeout(state, left).unwrap().0;
            }
            state.0[self.side] -= 1;
        }
        &self.bytes
    }
}

/// Mounts files `a` and `b` (one page each, so one read request each) behind a meeting,
/// served by `threads` workers, reads both at once from two threads, and says whether the
/// two reads were ever inside the server at the same time.
fn reads_meet(threads: usize, patience: Duration) -> bool {
    let meeting = Arc::new(Meeting {
        armed: AtomicBool::new(false),
        state: Mutex::new(([0, 0], false)),
        changed: Condvar::new(),
        patience,
    });
    let mut tree = Tree::new(Metadata::directory(0o755));
    for (side, file) in ["a", "b"].into_iter().enumerate() {
        let bytes = vec![b'a' + side as u8; 100];
        let gate: SharedBuffer = Arc::new(Gate { meeting: Arc::clone(&meeting), side, bytes });
        let content = Content::shared(gate, 0, 100).unwrap();
        tree.insert_file(file.as_bytes(), Metadata::file(0o644), content).unwrap();
    }
    let dir = tempdir();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let guard = scopeguard(&mountpoint);
    let config = MountConfig { threads, ..MountConfig::default() };
    let mounted = fuse::mount(Arc::new(tree.freeze()), &mountpoint, &config).unwrap();
    let server = std::thread::spawn(move || mounted.serve());

    meeting.armed.store(true, Ordering::SeqCst);
    let (done, results) = std::sync::mpsc::channel();
    for file in ["a", "b"] {
        let (path, done) = (mountpoint.join(file), done.clone());
        std::thread::spawn(move || done.send((file, std::fs::read(path).unwrap())).unwrap());
    }
    for _ in 0..2 {
        // A watchdog: should a read never return, the guard's lazy unmount frees it.
        let (file, bytes) =
            results.recv_timeout(patience * 10 + Duration::from_secs(10)).expect("a read returned");
        assert_eq!(bytes, vec![file.as_bytes()[0]; 100], "{file}");
    }
    let met = meeting.state.lock().unwrap().1;

    drop(guard);
    server.join().unwrap().unwrap();
    met
}

#[test]
fn two_reads_of_different_files_are_inside_the_server_at_once() {
    let name = "two_reads_of_different_files_are_inside_the_server_at_once";
    if !fuse_available(name) {
        return;
    }
    assert!(
        reads_meet(2, Duration::from_secs(20)),
        "with two workers, the reads of a and b were never inside the server at the same time"
    );
    // The control: one worker answers one request at a time, so the reads cannot meet, and
    // each gives up after its (short) patience.
    assert!(!reads_meet(1, Duration::from_secs(1)), "one worker cannot serve two reads at once");
}

/// 64 MiB that no compressor can shrink (xorshift), so that a compressed layer is as big as
/// the data, and a second copy of either would show in the peak.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

const DATA: usize = 64 << 20;

/// A `docker save` archive of one image whose only layer is the member `layer`.
fn docker_archive(path: &Path, layer: &[u8]) {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
    let manifest = br#"[{"Config":"config.json","RepoTags":[],"Layers":["l/layer.tar"]}]"#;
    let mut archive = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (member, bytes) in
        [("config.json", &config[..]), ("l/layer.tar", layer), ("manifest.json", manifest)]
    {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        archive.append_data(&mut header, member, bytes).unwrap();
    }
    archive.into_inner().unwrap().flush().unwrap();
}

fn kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_image_mount_holds_one_copy_of_its_data_whatever_the_form() {
    let name = "an_image_mount_holds_one_copy_of_its_data_whatever_the_form";
    if !fuse_available(name) {
        return;
    }
    let data = noise(DATA);
    let mut tree = Tree::new(Metadata::directory(0o755));
    tree.insert_file(b"big", Metadata::file(0o644), Content::from_vec(data.clone())).unwrap();
    let mut tar = Vec::new();
    write_layer(&tree.freeze(), &LayerOptions::default(), &mut WriteSink(&mut tar)).unwrap();
    let gzip = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        encoder.write_all(&tar).unwrap();
        encoder.finish().unwrap()
    };
    // Independent 4 MiB frames, as flatroot writes zstd layers.
    let zstd: Vec<u8> =
        tar.chunks(4 << 20).flat_map(|part| zstd::encode_all(part, 1).unwrap()).collect();

    let dir = tempdir();
    let forms = ["layer.tar", "layer.tar.gz", "layer.tar.zst", "docker-gzip.tar"];
    std::fs::write(dir.path().join(forms[0]), &tar).unwrap();
    std::fs::write(dir.path().join(forms[1]), &gzip).unwrap();
    std::fs::write(dir.path().join(forms[2]), &zstd).unwrap();
    docker_archive(&dir.path().join(forms[3]), &gzip);
    drop((tar, gzip, zstd));

    let mut peaks = Vec::new();
    for form in forms {
        let mounted = Mounted::start(&dir.path().join(form), &["--jobs", "2"]);
        let read = std::fs::read(mounted.path("big")).unwrap();
        assert!(read == data, "{form}: the mount serves the data");
        peaks.push((form, kib(mounted.pid(), "VmHWM:"), kib(mounted.pid(), "VmRSS:")));
    }
    eprintln!("server with a 64 MiB image, after reading it all (peak, now): {peaks:?}");
    // One copy of the data (64 MiB) and the program; a second copy would add 64 MiB more.
    for (form, peak, _) in &peaks {
        assert!(*peak < (DATA as u64 >> 10) + 32 * 1024, "{form}: peak {peak} KiB");
    }
}

#[test]
fn a_server_ending_after_a_lazy_umount_leaves_a_newer_mount_on_its_directory_alone() {
    let name = "a_server_ending_after_a_lazy_umount_leaves_a_newer_mount_on_its_directory_alone";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let mut tree = Tree::new(Metadata::directory(0o755));
    tree.insert_file(b"which", Metadata::file(0o644), Content::from_vec(b"old\n".to_vec()))
        .unwrap();
    let old_layer = dir.path().join("old.tar");
    let mut tar = Vec::new();
    write_layer(&tree.freeze(), &LayerOptions::default(), &mut WriteSink(&mut tar)).unwrap();
    std::fs::write(&old_layer, tar).unwrap();

    let mut old = Mounted::start(&old_layer, &[]);
    let held = std::fs::File::open(old.path("which")).unwrap();
    let lazy = run(flatroot().args(["umount", "--lazy"]).arg(&old.mountpoint));
    assert!(lazy.status.success(), "{}", stderr(&lazy));

    // A newer mount on the same directory while the old server still serves the held file.
    let log = std::fs::File::create(dir.path().join("new.log")).unwrap();
    let mut new = flatroot()
        .arg("mount")
        .arg("testdata/blueprint.yaml")
        .arg(&old.mountpoint)
        .args(["--arch", "x86_64"])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _guard = scopeguard(&old.mountpoint);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !is_mounted(&old.mountpoint) {
        assert!(new.try_wait().unwrap().is_none(), "the newer server ended before mounting");
        assert!(Instant::now() < deadline, "no newer mount after 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }

    drop(held);
    assert!(old.wait_exit(30).success(), "{}", old.log_text());
    assert!(is_mounted(&old.mountpoint), "the old server took the newer mount down");
    assert!(old.mountpoint.join("etc/os-release").is_file(), "the newer mount still serves");
    assert!(!old.log_text().contains("WARN"), "the old server's log: {}", old.log_text());

    let umount = run(flatroot().arg("umount").arg(&old.mountpoint));
    assert!(umount.status.success(), "{}", stderr(&umount));
    assert!(new.wait().unwrap().success());
}

#[test]
fn seek_data_and_seek_hole_see_files_without_holes() {
    let name = "seek_data_and_seek_hole_see_files_without_holes";
    if !fuse_available(name) {
        return;
    }
    let dir = tempdir();
    let mut tree = Tree::new(Metadata::directory(0o755));
    tree.insert_file(b"f", Metadata::file(0o644), Content::from_vec(vec![7; 10_000])).unwrap();
    let layer = dir.path().join("layer.tar");
    let mut tar = Vec::new();
    write_layer(&tree.freeze(), &LayerOptions::default(), &mut WriteSink(&mut tar)).unwrap();
    std::fs::write(&layer, tar).unwrap();
    let mounted = Mounted::start(&layer, &[]);

    let file = std::fs::File::open(mounted.path("f")).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: lseek(2) on a descriptor this test owns.
    let seek = |offset: i64, whence: i32| unsafe { libc::lseek(fd, offset, whence) };
    assert_eq!(seek(0, libc::SEEK_DATA), 0);
    assert_eq!(seek(4096, libc::SEEK_DATA), 4096);
    assert_eq!(seek(0, libc::SEEK_HOLE), 10_000);
    assert_eq!(seek(10_000, libc::SEEK_DATA), -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENXIO));
    drop(file);
    assert!(!mounted.log_text().contains("WARN"), "{}", mounted.log_text());
}
