//! `etc/passwd`, `etc/group` and `etc/shadow` from the blueprint's accounts, merged with what
//! the packages ship.
//!
//! Lines the packages ship are kept in order; a blueprint account is appended, as apko does,
//! except that it takes the place of a line of the same name (apko appends a second line,
//! which lookups never reach, so the blueprint's account would have no effect). Created
//! users get a locked shadow entry (`!`), so no account in an image has a usable password.

/// A user the blueprint asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id; the uid when the blueprint gives none.
    pub gid: u32,
    /// Login shell (`/bin/sh` by default).
    pub shell: String,
    /// Home directory (`/home/<name>` by default).
    pub home: String,
}

/// A group the blueprint asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Numeric group id.
    pub gid: u32,
    /// Member user names.
    pub members: Vec<String>,
}

/// The three account files after the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFiles {
    /// `etc/passwd`.
    pub passwd: Vec<u8>,
    /// `etc/group`.
    pub group: Vec<u8>,
    /// `etc/shadow`.
    pub shadow: Vec<u8>,
}

/// Merges `users` and `groups` into the files the packages shipped (empty when absent).
pub fn merge(
    passwd: &[u8],
    group: &[u8],
    shadow: &[u8],
    users: &[User],
    groups: &[Group],
) -> AccountFiles {
    let passwd_lines = users.iter().map(|u| {
        (u.name.as_str(), format!("{}:x:{}:{}::{}:{}", u.name, u.uid, u.gid, u.home, u.shell))
    });
    let group_lines = groups
        .iter()
        .map(|g| (g.name.as_str(), format!("{}:x:{}:{}", g.name, g.gid, g.members.join(","))));
    let shadow_lines = users.iter().map(|u| (u.name.as_str(), format!("{}:!::0:::::", u.name)));

    AccountFiles {
        passwd: merge_file(passwd, passwd_lines, true),
        group: merge_file(group, group_lines, true),
        shadow: merge_file(shadow, shadow_lines, false),
    }
}

/// Replaces lines whose first field is a given name, appends the rest. With `replace`
/// false an existing line is kept (a package's shadow entry keeps its password state).
fn merge_file<'a>(
    existing: &[u8],
    wanted: impl Iterator<Item = (&'a str, String)>,
    replace: bool,
) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> =
        existing.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    for (name, line) in wanted {
        let key = format!("{name}:");
        match lines.iter().position(|l| l.starts_with(key.as_bytes())) {
            Some(i) if replace => lines[i] = line.into_bytes(),
            Some(_) => {}
            None => lines.push(line.into_bytes()),
        }
    }
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: u32) -> User {
        User {
            name: name.into(),
            uid,
            gid: uid,
            shell: "/bin/sh".into(),
            home: format!("/home/{name}"),
        }
    }

    #[test]
    fn accounts_replace_same_names_and_append_new_ones() {
        let files = merge(
            b"root:x:0:0:root:/root:/bin/ash\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
            b"root:x:0:root\n",
            b"root:*::0:::::\n",
            &[user("nobody", 65534), user("app", 1000)],
            &[Group { name: "app".into(), gid: 1000, members: vec!["app".into()] }],
        );
        assert_eq!(
            String::from_utf8(files.passwd).unwrap(),
            "root:x:0:0:root:/root:/bin/ash\nnobody:x:65534:65534::/home/nobody:/bin/sh\n\
             app:x:1000:1000::/home/app:/bin/sh\n"
        );
        assert_eq!(String::from_utf8(files.group).unwrap(), "root:x:0:root\napp:x:1000:app\n");
        assert_eq!(
            String::from_utf8(files.shadow).unwrap(),
            "root:*::0:::::\nnobody:!::0:::::\napp:!::0:::::\n"
        );
    }
}
