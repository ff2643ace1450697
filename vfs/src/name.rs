//! Names of directory entries and the splitting of byte paths into them.

use std::fmt;

/// The longest name a Linux filesystem holds (`NAME_MAX`); a tree with a longer one could
/// not be unpacked anywhere.
pub const MAX_NAME_LEN: usize = 255;

/// One component of a path: a non-empty byte string without `/` or NUL that is neither `.`
/// nor `..`. Names need not be UTF-8; they order by their bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Box<[u8]>);

/// Why a byte string is not a valid [`Name`] or a path is not a valid relative path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name or path is empty.
    #[error("empty name")]
    Empty,
    /// The name contains `/`.
    #[error("name {0:?} contains '/'")]
    Slash(Lossy),
    /// The name or path contains a NUL byte.
    #[error("name {0:?} contains a NUL byte")]
    Nul(Lossy),
    /// A name longer than [`MAX_NAME_LEN`] bytes, which no Linux filesystem can hold.
    #[error("name {0:?} is longer than 255 bytes")]
    TooLong(Lossy),
    /// The name is `.` or `..`.
    #[error("name {0:?} is '.' or '..'")]
    Dots(Lossy),
    /// A path has a `..` component.
    #[error("path {0:?} has a '..' component")]
    DotDot(Lossy),
}

/// A byte string shown lossily in messages, so that non-UTF-8 names stay readable, and
/// one longer than [`Lossy::SHOWN`] bytes cut short, so that a hostile path of kilobytes
/// does not bury the message it is in.
#[derive(Clone, PartialEq, Eq)]
pub struct Lossy(pub Vec<u8>);

impl Lossy {
    /// The most bytes shown whole; a longer string shows its first half of that.
    pub const SHOWN: usize = 256;
}

impl fmt::Debug for Lossy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= Self::SHOWN {
            return write!(f, "\"{}\"", self.0.escape_ascii());
        }
        let head = &self.0[..Self::SHOWN / 2];
        write!(f, "\"{}\"… ({} bytes)", head.escape_ascii(), self.0.len())
    }
}

impl Name {
    /// Checks `bytes` and makes a name of them.
    pub fn new(bytes: &[u8]) -> Result<Name, NameError> {
        if bytes.is_empty() {
            return Err(NameError::Empty);
        }
        if bytes.contains(&b'/') {
            return Err(NameError::Slash(Lossy(bytes.to_vec())));
        }
        if bytes.contains(&0) {
            return Err(NameError::Nul(Lossy(bytes.to_vec())));
        }
        if bytes == b"." || bytes == b".." {
            return Err(NameError::Dots(Lossy(bytes.to_vec())));
        }
        if bytes.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong(Lossy(bytes.to_vec())));
        }
        Ok(Name(bytes.into()))
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", Lossy(self.0.to_vec()))
    }
}

/// The longest extended attribute name Linux holds (`XATTR_NAME_MAX`), namespace included.
pub const XATTR_NAME_MAX: usize = 255;

/// The largest extended attribute value Linux holds (`XATTR_SIZE_MAX`): a larger one could
/// be listed, but `getxattr` on it fails with `E2BIG`.
pub const XATTR_SIZE_MAX: usize = 65536;

/// Why an extended attribute could not be set on a Linux file: see xattr(7),
/// <https://man7.org/linux/man-pages/man7/xattr.7.html>.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XattrError {
    /// An empty name: `listxattr` would list it as an empty string, which the kernel takes
    /// for a corrupt list and fails with `EIO` for every attribute of the file.
    #[error("an xattr has an empty name")]
    Empty,
    /// A name that is not `NAMESPACE.NAME` with both parts non-empty (`user.` alone, `user`,
    /// `.x`).
    #[error("the xattr name {0:?} is not NAMESPACE.NAME with both parts non-empty (as user.x)")]
    Unqualified(Lossy),
    /// A name with a NUL byte, which would read as two names in a `listxattr` list.
    #[error("the xattr name {0:?} contains a NUL byte")]
    Nul(Lossy),
    /// A name longer than [`XATTR_NAME_MAX`].
    #[error("the xattr name {name:?} is {len} bytes long, past Linux's limit of {XATTR_NAME_MAX}")]
    NameTooLong {
        /// The name.
        name: Lossy,
        /// Its length.
        len: usize,
    },
    /// A value larger than [`XATTR_SIZE_MAX`].
    #[error(
        "the value of the xattr {name:?} is {len} bytes, past Linux's limit of {XATTR_SIZE_MAX}"
    )]
    ValueTooLarge {
        /// The attribute's name.
        name: Lossy,
        /// The value's length.
        len: usize,
    },
}

/// Checks that the extended attribute `name` = `value` is one a Linux file can hold and
/// `listxattr`/`getxattr` can serve: a name of the form `NAMESPACE.NAME` (both parts
/// non-empty, as `user.x` or `security.capability`), without NUL, at most
/// [`XATTR_NAME_MAX`] bytes, and a value of at most [`XATTR_SIZE_MAX`] bytes.
///
/// # Errors
/// The first [`XattrError`] that applies, naming the attribute.
pub fn check_xattr(name: &[u8], value: &[u8]) -> Result<(), XattrError> {
    let lossy = || Lossy(name.to_vec());
    if name.is_empty() {
        return Err(XattrError::Empty);
    }
    if name.contains(&0) {
        return Err(XattrError::Nul(lossy()));
    }
    if name.len() > XATTR_NAME_MAX {
        return Err(XattrError::NameTooLong { name: lossy(), len: name.len() });
    }
    match name.iter().position(|&b| b == b'.') {
        Some(dot) if dot > 0 && dot + 1 < name.len() => {}
        _ => return Err(XattrError::Unqualified(lossy())),
    }
    if value.len() > XATTR_SIZE_MAX {
        return Err(XattrError::ValueTooLarge { name: lossy(), len: value.len() });
    }
    Ok(())
}

/// Splits a relative path into names.
///
/// Leading `/` and `./` are dropped, repeated slashes collapse and a trailing slash is
/// ignored, so `./usr//bin/` gives `usr`, `bin`. A `.` component in the middle is skipped;
/// a `..` component is an error, because a package must not climb out of where it is put.
/// The empty path (or `/`, `.`) names the root and gives no components.
pub fn components(path: &[u8]) -> Result<Vec<Name>, NameError> {
    if path.contains(&0) {
        return Err(NameError::Nul(Lossy(path.to_vec())));
    }
    let mut out = Vec::new();
    for part in path.split(|b| *b == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => return Err(NameError::DotDot(Lossy(path.to_vec()))),
            name if name.len() > MAX_NAME_LEN => {
                return Err(NameError::TooLong(Lossy(name.to_vec())));
            }
            name => out.push(Name(name.into())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_slash_nul_and_dots() {
        assert!(Name::new(b"caf\xe9").is_ok());
        assert_eq!(Name::new(b""), Err(NameError::Empty));
        assert!(matches!(Name::new(b"a/b"), Err(NameError::Slash(_))));
        assert!(matches!(Name::new(b"a\0"), Err(NameError::Nul(_))));
        assert!(matches!(Name::new(b".."), Err(NameError::Dots(_))));
        assert!(matches!(Name::new(b"."), Err(NameError::Dots(_))));
        assert!(Name::new(&[b'a'; 255]).is_ok());
        assert!(matches!(Name::new(&[b'a'; 256]), Err(NameError::TooLong(_))));
        assert!(matches!(components(&[b'a'; 256]), Err(NameError::TooLong(_))));
    }

    #[test]
    fn components_normalise_and_refuse_parent_steps() {
        let names = components(b"./usr//bin/./x/").unwrap();
        let bytes: Vec<&[u8]> = names.iter().map(Name::as_bytes).collect();
        assert_eq!(bytes, vec![&b"usr"[..], b"bin", b"x"]);
        assert!(components(b"/").unwrap().is_empty());
        assert!(matches!(components(b"a/../../x"), Err(NameError::DotDot(_))));
    }

    #[test]
    fn xattrs_need_a_qualified_name_of_linux_length_and_a_value_within_its_limit() {
        assert_eq!(check_xattr(b"user.x", b"v"), Ok(()));
        assert_eq!(check_xattr(b"security.capability", &[0; XATTR_SIZE_MAX]), Ok(()));
        assert_eq!(check_xattr(b"user.a.b", b""), Ok(()));
        assert_eq!(check_xattr(b"", b"v"), Err(XattrError::Empty));
        for bad in [&b"user."[..], b"user", b".x", b"."] {
            assert_eq!(check_xattr(bad, b""), Err(XattrError::Unqualified(Lossy(bad.to_vec()))));
        }
        assert!(matches!(check_xattr(b"user.a\0b", b""), Err(XattrError::Nul(_))));
        let long = [b"user.".as_slice(), &[b'n'; 250]].concat();
        assert_eq!(check_xattr(&long, b""), Ok(()));
        let longer = [long.as_slice(), b"n"].concat();
        let err = check_xattr(&longer, b"").unwrap_err();
        assert!(matches!(err, XattrError::NameTooLong { len: 256, .. }), "{err}");
        let err = check_xattr(b"user.big", &[0; XATTR_SIZE_MAX + 1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value of the xattr \"user.big\" is 65537 bytes, past Linux's limit of 65536"
        );
    }

    #[test]
    fn names_order_by_bytes() {
        let mut names =
            [Name::new(b"b").unwrap(), Name::new(b"B").unwrap(), Name::new(b"\xff").unwrap()];
        names.sort();
        assert_eq!(names[0].as_bytes(), b"B");
        assert_eq!(names[2].as_bytes(), b"\xff");
    }
}
