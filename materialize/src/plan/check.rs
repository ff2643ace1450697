//! The checks a plan passes before anything is built: what would make a broken or surprising
//! image (an account line `etc/passwd` cannot hold, a `work-dir` no runtime starts in, an
//! `os-release` that misplaces its files) is refused, placed where the blueprint writes it.

use std::path::Path;

use super::PlanError;
use crate::blueprint::{Place, SourceFiles, Step};
use crate::build::{Plan, RunConfig};
use crate::rootfs::accounts::User;
use crate::rootfs::os_release::OsRelease;

/// Refuses what would make a broken or surprising image: see [`PlanError`].
pub fn check(plan: &Plan) -> Result<(), PlanError> {
    if let Some(key) = plan.config.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        let blueprint = place(plan, &[Step::Key("environment"), Step::Key(key)], None, true);
        return Err(PlanError::Environment { blueprint, key: key.clone() });
    }
    check_run_config(&plan.config, &plan.source_files, &plan.source)?;
    check_users(plan)?;
    for name in plan.services.keys() {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            let steps = [Step::Key("entrypoint"), Step::Key("services"), Step::Key(name)];
            let blueprint = place(plan, &steps, None, true);
            return Err(PlanError::Service { blueprint, name: name.clone() });
        }
    }
    if let Some(os_release) = &plan.os_release {
        check_os_release(os_release, &plan.source_files, &plan.source)?;
    }
    check_groups(plan)
}

/// Where the value at `steps` of `plan`'s blueprint is written (see [`SourceFiles::place`]).
fn place(plan: &Plan, steps: &[Step<'_>], value: Option<&str>, key: bool) -> Place {
    plan.source_files.place(&plan.source, steps, value, key)
}

/// Where `accounts.LIST` repeats the name `name` of its entries' `field`: at its last entry,
/// the blueprint searched before the files it includes (whose entries come first).
fn repeat(plan: &Plan, list: &str, field: &str, name: &str) -> Place {
    let entry = Step::LastEntry { field: Some(field), value: name };
    place(plan, &[Step::Key("accounts"), Step::Key(list), entry, Step::Key(field)], None, false)
}

/// Whether an account value would break its line of `etc/passwd` or `etc/group`.
fn breaks_line(value: &str) -> bool {
    value.contains([':', '\n', '\r', '\0'])
}

/// Refuses users whose fields would break `etc/passwd`, a home that is not an absolute
/// path, and a name given twice with other fields.
fn check_users(plan: &Plan) -> Result<(), PlanError> {
    let account = |blueprint: Place, what: String| PlanError::Account { blueprint, what };
    let user_field = |name: &str, field: &str, value: Option<&str>| {
        let entry = Step::Entry { field: Some("username"), value: name };
        let steps = [Step::Key("accounts"), Step::Key("users"), entry, Step::Key(field)];
        place(plan, &steps, value, false)
    };

    let mut users = std::collections::BTreeSet::new();
    for u in &plan.users {
        for (field, value) in [("username", &u.name), ("homedir", &u.home), ("shell", &u.shell)] {
            if breaks_line(value) {
                return Err(account(
                    user_field(&u.name, field, Some(value)),
                    format!("user {:?}: {field} {value:?} holds ':' or a line break", u.name),
                ));
            }
        }
        let odd = |c: &str| c == "." || c == "..";
        if u.home != "/dev/null" && (!u.home.starts_with('/') || u.home.split('/').any(odd)) {
            return Err(account(
                user_field(&u.name, "homedir", Some(&u.home)),
                format!(
                    "user {:?}: homedir {:?} is not an absolute path without . or .. components",
                    u.name, u.home
                ),
            ));
        }
        if !users.insert(u.name.as_str()) {
            let first = plan.users.iter().find(|f| f.name == u.name).unwrap_or(u);
            let differ = differing(first, u);
            // The entry whose value differs from the first one's, where that value is
            // written; else the last entry of the name.
            let at = differ
                .first()
                .map(|(field, _, theirs)| user_field(&u.name, field, Some(theirs)))
                .filter(|place| place.at.is_some())
                .unwrap_or_else(|| repeat(plan, "users", "username", &u.name));
            let differ: Vec<String> =
                differ.iter().map(|(field, a, b)| format!("{field} {a} and {b}")).collect();
            return Err(account(
                at,
                format!("user {:?} is listed twice, differently: {}", u.name, differ.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Refuses groups whose name or members would break `etc/group`, and a name given twice
/// with another gid or other members.
fn check_groups(plan: &Plan) -> Result<(), PlanError> {
    let account = |blueprint: Place, what: String| PlanError::Account { blueprint, what };
    let group = |name: &str, last: &[Step<'_>], value: Option<&str>| {
        let entry = Step::Entry { field: Some("groupname"), value: name };
        let mut steps = vec![Step::Key("accounts"), Step::Key("groups"), entry];
        steps.extend_from_slice(last);
        place(plan, &steps, value, false)
    };

    let mut groups = std::collections::BTreeSet::new();
    for g in &plan.groups {
        if breaks_line(&g.name) {
            return Err(account(
                group(&g.name, &[Step::Key("groupname")], None),
                format!("group {:?}: the name holds ':' or a line break", g.name),
            ));
        }
        if let Some(member) = g.members.iter().find(|m| breaks_line(m) || m.contains(',')) {
            let at = [Step::Key("members"), Step::Entry { field: None, value: member }];
            return Err(account(
                group(&g.name, &at, None),
                format!("group {:?}: member {member:?} holds ':', ',' or a line break", g.name),
            ));
        }
        if !groups.insert(g.name.as_str()) {
            let first = plan.groups.iter().find(|f| f.name == g.name).unwrap_or(g);
            let mut differ = Vec::new();
            if first.gid != g.gid {
                differ.push(format!("gid {} and {}", first.gid, g.gid));
            }
            if first.members != g.members {
                differ.push(format!("members {:?} and {:?}", first.members, g.members));
            }
            // At the gid that differs, where it is written; else the last entry of the name.
            let gid = g.gid.to_string();
            let at = Some(group(&g.name, &[Step::Key("gid")], Some(&gid)))
                .filter(|place| first.gid != g.gid && place.at.is_some())
                .unwrap_or_else(|| repeat(plan, "groups", "groupname", &g.name));
            return Err(account(
                at,
                format!("group {:?} is listed twice, differently: {}", g.name, differ.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Refuses what would break `etc/os-release` or misplace `etc/ID-release`: see
/// [`PlanError::OsRelease`].
fn check_os_release(
    os_release: &OsRelease,
    sources: &SourceFiles,
    source: &Path,
) -> Result<(), PlanError> {
    let fields = [
        ("id", &os_release.id),
        ("name", &os_release.name),
        ("pretty-name", &os_release.pretty_name),
        ("version-id", &os_release.version_id),
        ("home-url", &os_release.home_url),
        ("bug-report-url", &os_release.bug_report_url),
    ];
    // A value of kilobytes is shown by its start.
    let shown = |value: &str| match value.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", value.get(..end).unwrap_or_default()),
        None => value.to_string(),
    };
    let refuse = |field, value: &str, expected| PlanError::OsRelease {
        blueprint: sources.place(
            source,
            &[Step::Key("os-release"), Step::Key(field)],
            Some(value),
            false,
        ),
        field,
        value: shown(value),
        expected,
    };
    for (field, value) in fields {
        if value.chars().any(char::is_control) {
            return Err(refuse(field, value, "a value without control characters"));
        }
    }
    if os_release.id.contains('/') {
        let expected = "an ID without '/' (it names the file etc/ID-release)";
        return Err(refuse("id", &os_release.id, expected));
    }
    if os_release.id.len() > 247 {
        let expected = "an ID of at most 247 bytes (etc/ID-release is a file name)";
        return Err(refuse("id", &os_release.id, expected));
    }
    if os_release.id == "os" {
        let expected = "an ID other than \"os\" (etc/os-release would hold the version alone)";
        return Err(refuse("id", &os_release.id, expected));
    }
    Ok(())
}

/// Refuses a run setting a runtime would refuse when it starts the image: see
/// [`PlanError::RunConfig`].
fn check_run_config(
    config: &RunConfig,
    sources: &SourceFiles,
    source: &Path,
) -> Result<(), PlanError> {
    let refuse = |field, value: &str, expected| {
        // A volume is one entry of a list; the other fields are values of their own.
        let steps = match field {
            "volumes" => [Step::Key(field), Step::Entry { field: None, value }].to_vec(),
            _ => [Step::Key(field)].to_vec(),
        };
        PlanError::RunConfig {
            blueprint: sources.place(source, &steps, Some(value), false),
            field,
            value: value.to_string(),
            expected,
        }
    };
    let absolute = "an absolute path";
    if let Some(dir) = config.work_dir.as_deref().filter(|d| !d.starts_with('/')) {
        return Err(refuse("work-dir", dir, absolute));
    }
    if let Some(volume) = config.volumes.iter().find(|v| !v.starts_with('/')) {
        return Err(refuse("volumes", volume, absolute));
    }
    if let Some(signal) = config.stop_signal.as_deref().filter(|s| !is_signal(s)) {
        let expected = "a signal's name (SIGTERM, TERM, SIGRTMIN+3) or number (1 to 64)";
        return Err(refuse("stop-signal", signal, expected));
    }
    Ok(())
}

/// Whether `text` names a Linux signal as container runtimes read a stop signal: a number
/// from 1 to 64, or a name in any case with or without `SIG`.
fn is_signal(text: &str) -> bool {
    const NAMES: [&str; 35] = [
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
        "RTMIN",
    ];
    if let Ok(number) = text.parse::<u8>() {
        return (1..=64).contains(&number);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let offset = |rest: &str| rest.parse::<u8>().is_ok_and(|n| (1..=15).contains(&n));
    NAMES.contains(&name)
        || name == "RTMAX"
        || name.strip_prefix("RTMIN+").is_some_and(offset)
        || name
            .strip_prefix("RTMAX-")
            .is_some_and(|rest| rest.parse::<u8>().is_ok_and(|n| (1..=14).contains(&n)))
}

/// The fields that differ between two entries of one user name: name, first value, second.
fn differing(first: &User, second: &User) -> Vec<(&'static str, String, String)> {
    let fields = [
        ("uid", first.uid.to_string(), second.uid.to_string()),
        ("gid", first.gid.to_string(), second.gid.to_string()),
        ("homedir", first.home.clone(), second.home.clone()),
        ("shell", first.shell.clone(), second.shell.clone()),
    ];
    fields.into_iter().filter(|(_, a, b)| a != b).collect()
}
