//! The busybox applet links that apk-tools creates through busybox's install hook.
//!
//! flatroot runs no package code, so it derives the links from data: from
//! `etc/busybox-paths.d/busybox` where the package ships it (Alpine 3.20 and later), or else
//! from the applet tables compiled into the busybox binary: the sorted, NUL-separated applet
//! names and the install-location array that follows busybox's `applet_tables` generator
//! (one nibble per applet: 0 `/`, 1 `/bin`, 2 `/sbin`, 3 `/usr/bin`, 4 `/usr/sbin`).

/// Applet paths (relative, like `usr/bin/wc`) listed in a `busybox-paths.d` file.
pub fn paths_from_list(list: &[u8]) -> Vec<Vec<u8>> {
    list.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .map(|l| l.strip_prefix(b"/").unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Applet paths read from a busybox binary's applet tables, or `None` when the tables
/// cannot be found unambiguously (then no links are made, and the caller says so).
pub fn paths_from_binary(binary: &[u8]) -> Option<Vec<Vec<u8>>> {
    let names = applet_names(binary)?;
    let locations = install_locations(binary, names.len())?;
    let dirs: [&[u8]; 5] = [b"", b"bin/", b"sbin/", b"usr/bin/", b"usr/sbin/"];
    let mut out = Vec::with_capacity(names.len());
    for (name, loc) in names.iter().zip(locations) {
        let dir = dirs.get(usize::from(loc))?;
        if dir.is_empty() {
            continue; // BB_DIR_ROOT: busybox itself does not install these as links
        }
        out.push([*dir, name.as_slice()].concat());
    }
    Some(out)
}

/// The applet name table: it starts with `[` and `[[` (the first applets in byte order),
/// and runs as long as the names stay sorted and printable.
fn applet_names(binary: &[u8]) -> Option<Vec<Vec<u8>>> {
    let start = find(binary, b"\0[\0[[\0")? + 1;
    let mut names = Vec::new();
    let mut rest = &binary[start..];
    while let Some(end) = rest.iter().position(|b| *b == 0) {
        let name = &rest[..end];
        let plausible = !name.is_empty()
            && name.iter().all(|b| b.is_ascii_graphic() && *b != b'/')
            && names.last().is_none_or(|prev: &Vec<u8>| prev.as_slice() < name);
        if !plausible {
            break;
        }
        names.push(name.to_vec());
        rest = &rest[end + 1..];
    }
    (names.len() >= 2).then_some(names)
}

/// Finds the packed install-location array for `count` applets: `ceil(count / 2)` bytes whose
/// nibbles are all below 5, starting with `[` and `[[` both in `/usr/bin` (0x33). It must be
/// the only such run in the binary.
fn install_locations(binary: &[u8], count: usize) -> Option<Vec<u8>> {
    let len = count.div_ceil(2);
    let valid = |b: u8| (b & 0x0f) < 5 && (b >> 4) < 5;
    let mut found = None;
    let mut i = 0;
    while i + len <= binary.len() {
        if binary[i] == 0x33 && binary[i..i + len].iter().all(|b| valid(*b)) {
            // Reject runs that are part of a longer valid run or are mostly zero padding.
            let zeros = binary[i..i + len].iter().filter(|b| **b == 0).count();
            if zeros * 4 <= len {
                if found.is_some() {
                    return None;
                }
                found = Some(i);
            }
            i += len;
        } else {
            i += 1;
        }
    }
    let start = found?;
    let packed = &binary[start..start + len];
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let byte = packed[index / 2];
        out.push(if index % 2 == 0 { byte & 0x0f } else { byte >> 4 });
    }
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_files_give_relative_paths() {
        let paths = paths_from_list(b"usr/bin/[\n/bin/ls\n\n# comment\n");
        assert_eq!(paths, vec![b"usr/bin/[".to_vec(), b"bin/ls".to_vec()]);
    }

    #[test]
    fn tables_in_a_synthetic_binary_are_found() {
        let mut binary = b"\x7fELF junk\0".to_vec();
        binary.extend_from_slice(b"\0[\0[[\0ls\0sh\0zcip\0\0\x01\x02");
        binary.extend_from_slice(b"padding\xff\xff");
        // [ and [[ in /usr/bin, ls and sh in /bin, zcip in /sbin.
        binary.extend_from_slice(&[0x33, 0x11, 0x02]);
        binary.extend_from_slice(b"\xff\xfftrailer");
        let paths = paths_from_binary(&binary).unwrap();
        let text: Vec<String> = paths.iter().map(|p| String::from_utf8_lossy(p).into()).collect();
        assert_eq!(text, vec!["usr/bin/[", "usr/bin/[[", "bin/ls", "bin/sh", "sbin/zcip"]);
    }
}
