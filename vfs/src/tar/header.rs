//! The 512-byte ustar header and PAX extended header records.

use std::collections::BTreeMap;

use super::BLOCK;

/// A ustar header under construction; fields that do not fit are reported so the caller
/// can carry them in PAX records instead.
pub(crate) struct Header {
    pub(crate) block: [u8; BLOCK],
}

impl Header {
    pub(crate) fn new(typeflag: u8) -> Header {
        let mut block = [0u8; BLOCK];
        block[156] = typeflag;
        block[257..263].copy_from_slice(b"ustar\0");
        block[263..265].copy_from_slice(b"00");
        Header { block }
    }

    /// Sets name (and prefix) if the path fits ustar; returns false if it needs PAX.
    pub(crate) fn set_path(&mut self, path: &[u8]) -> bool {
        if path.len() <= 100 {
            self.block[..path.len()].copy_from_slice(path);
            return true;
        }
        // ustar splits a long path at a slash into a prefix of at most 155 bytes and a
        // name of at most 100; take the shortest prefix that leaves a name that fits.
        let split = path.iter().enumerate().find(|&(i, &b)| {
            b == b'/' && i <= 155 && path.len() - i - 1 <= 100 && i + 1 < path.len()
        });
        match split {
            Some((i, _)) => {
                self.block[345..345 + i].copy_from_slice(&path[..i]);
                let name = &path[i + 1..];
                self.block[..name.len()].copy_from_slice(name);
                true
            }
            None => {
                // The PAX record carries the real path; keep a recognisable stand-in.
                self.block[..100].copy_from_slice(&path[..100]);
                false
            }
        }
    }

    /// Sets the link name if it fits; returns false if it needs PAX.
    pub(crate) fn set_link(&mut self, target: &[u8]) -> bool {
        let fits = target.len() <= 100;
        let n = target.len().min(100);
        self.block[157..157 + n].copy_from_slice(&target[..n]);
        fits
    }

    /// Writes `value` as zero-padded octal in the field at `range`, NUL-terminated;
    /// returns false (and writes zero) if it does not fit.
    pub(crate) fn set_octal(&mut self, start: usize, width: usize, value: u64) -> bool {
        let digits = width - 1;
        let fits = digits >= 22 || value < (1u64 << (3 * digits as u32));
        let shown = if fits { value } else { 0 };
        let text = format!("{shown:0digits$o}");
        self.block[start..start + digits].copy_from_slice(text.as_bytes());
        self.block[start + digits] = 0;
        fits
    }

    pub(crate) fn set_mode(&mut self, mode: u32) {
        self.set_octal(100, 8, u64::from(mode & 0o7777));
    }

    pub(crate) fn set_uid(&mut self, uid: u32) -> bool {
        self.set_octal(108, 8, u64::from(uid))
    }

    pub(crate) fn set_gid(&mut self, gid: u32) -> bool {
        self.set_octal(116, 8, u64::from(gid))
    }

    pub(crate) fn set_size(&mut self, size: u64) -> bool {
        self.set_octal(124, 12, size)
    }

    pub(crate) fn set_mtime(&mut self, secs: i64) -> bool {
        match u64::try_from(secs) {
            Ok(v) => self.set_octal(136, 12, v),
            Err(_) => {
                self.set_octal(136, 12, 0);
                false
            }
        }
    }

    pub(crate) fn set_device(&mut self, major: u32, minor: u32) {
        self.set_octal(329, 8, u64::from(major));
        self.set_octal(337, 8, u64::from(minor));
    }

    /// Computes and stores the header checksum; call last.
    pub(crate) fn finish(mut self) -> [u8; BLOCK] {
        self.block[148..156].copy_from_slice(b"        ");
        let sum: u32 = self.block.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        self.block[148..156].copy_from_slice(text.as_bytes());
        self.block
    }
}

/// Encodes PAX records (`"<len> <key>=<value>\n"`, the length counting itself), in byte
/// order of their keys so that the bytes are deterministic.
pub(crate) fn pax_records(records: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = key.len() + value.len() + 3; // space, '=', newline
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(key);
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let mut records = BTreeMap::new();
        records.insert(b"path".to_vec(), vec![b'a'; 93]);
        let bytes = pax_records(&records);
        // 3 digits + space + "path=" + 93 + newline = 102... so the length is 103.
        assert_eq!(bytes.len(), 103);
        assert!(bytes.starts_with(b"103 path="));
    }

    #[test]
    fn long_paths_split_into_prefix_and_name() {
        let path = [vec![b'd'; 120], b"/".to_vec(), vec![b'f'; 50]].concat();
        let mut header = Header::new(b'0');
        assert!(header.set_path(&path));
        assert_eq!(&header.block[345..345 + 120], &path[..120]);
        assert_eq!(&header.block[..50], &path[121..]);
        let too_long = vec![b'x'; 300];
        assert!(!Header::new(b'0').set_path(&too_long));
    }

    #[test]
    fn octal_fields_refuse_values_that_do_not_fit() {
        let mut header = Header::new(b'0');
        assert!(header.set_uid(0o7777777));
        assert!(!header.set_uid(0o10000000));
        assert!(header.set_size(8 * 1024 * 1024 * 1024 - 1));
        assert!(!header.set_size(8 * 1024 * 1024 * 1024));
    }
}
