//! A [`Report`] as text for a terminal, Markdown for a pull-request comment, or JSON.
//!
//! Text and Markdown list config changes by field, package changes by name and file
//! changes grouped by owning package (B's owner, else A's; unowned paths last), each group
//! in path order, one line per change. Markers: `+` added, `-` removed, `~` changed, `^`
//! upgraded, `v` downgraded.

use std::fmt::Write as _;

use super::Field;
use super::model::{
    ChangeKind, ConfigChange, EntryView, FileChange, PackageChange, PackageDirection, Report,
    StatRow,
};
use crate::terminal::visible;

/// The report as pretty-printed JSON (see [`Report`] for the fields), with a final newline.
///
/// # Errors
/// Only if serde_json refuses a value, which these types never cause.
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    Ok(text)
}

/// ANSI colours, or none.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn paint(self, marker: &str, text: &str) -> String {
        if !self.0 {
            return text.to_string();
        }
        let code = match marker {
            "+" | "^" => "32",
            "-" | "v" => "31",
            "~" => "33",
            _ => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// The report for people: one line per change; ANSI colours when `color` (the caller
/// decides, from whether stdout is a terminal). What the inputs say (labels, package names,
/// paths, contents) is shown [`visible`]: no byte of an image reaches the terminal as a
/// control character.
pub fn text(report: &Report, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    let _ = writeln!(out, "a: {}", visible(&side(&report.a)));
    let _ = writeln!(out, "b: {}", visible(&side(&report.b)));
    if let Some(config) = report.config.as_deref().filter(|c| !c.is_empty()) {
        let _ = writeln!(out, "{}", paint.paint("", "config:"));
        for change in config {
            let (marker, line) = config_line(change);
            let line = format!("{marker} {}", visible(&line));
            let _ = writeln!(out, "  {}", paint.paint(marker, &line));
        }
    }
    if let Some(packages) = report.packages.as_deref().filter(|p| !p.is_empty()) {
        let _ = writeln!(out, "{}", paint.paint("", "packages:"));
        for change in packages {
            let marker = package_marker(change.change);
            let line =
                visible(&format!("{marker} {} {}", change.name, versions(change))).into_owned();
            let why = why(change);
            let _ = writeln!(out, "  {}  why: {}", paint.paint(marker, &line), visible(&why));
        }
    }
    if let Some(files) = report.files.as_deref().filter(|f| !f.is_empty()) {
        let _ = writeln!(out, "{}", paint.paint("", "files:"));
        for (group, changes) in groups(files) {
            let _ = writeln!(out, "  {}:", visible(&group));
            for change in changes {
                let marker = file_marker(change.change);
                let line = visible(&format!("{marker} {}", change.path)).into_owned();
                let described = describe(change);
                let _ =
                    writeln!(out, "    {}  {}", paint.paint(marker, &line), visible(&described));
                // Split at line feeds alone: `lines` would drop a carriage return before
                // one, and `a\r\n` would show as `a\n` does.
                let diff_lines = change.diff.iter().flat_map(|d| d.split_terminator('\n'));
                for diff_line in diff_lines {
                    let marker = diff_line.get(..1).unwrap_or_default();
                    let line = visible(diff_line);
                    let _ = writeln!(out, "      {}", paint.paint(marker, &line));
                }
            }
        }
    }
    if let Some(stat) = &report.stat {
        let _ = writeln!(out, "{}", paint.paint("", "stat:"));
        for (title, rows) in [("by package", &stat.packages), ("by directory", &stat.directories)] {
            let _ = writeln!(out, "  {title}:");
            for row in rows {
                let _ = writeln!(out, "    {}", visible(&stat_line(row)));
            }
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {}", visible(note));
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

/// The report as Markdown for a pull-request comment: a summary line, then tables of
/// config, packages and files (grouped by package, folded in a `<details>` block), content
/// diffs in `diff` blocks.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### flatroot diff\n");
    let _ = writeln!(out, "- **A**: {}", cell(&side(&report.a)));
    let _ = writeln!(out, "- **B**: {}\n", cell(&side(&report.b)));
    let _ = writeln!(out, "{}\n", summary(report));
    if let Some(config) = report.config.as_deref().filter(|c| !c.is_empty()) {
        let _ = writeln!(out, "#### Config\n\n| field | A | B |\n|---|---|---|");
        for change in config {
            let show = |v: &Option<serde_json::Value>| v.as_ref().map_or("—".into(), code);
            let field = code_span(&cell(&change.field));
            let _ = writeln!(out, "| {field} | {} | {} |", show(&change.a), show(&change.b));
        }
        out.push('\n');
    }
    if let Some(packages) = report.packages.as_deref().filter(|p| !p.is_empty()) {
        let _ = writeln!(
            out,
            "#### Packages\n\n| change | package | A | B | why |\n|---|---|---|---|---|"
        );
        for change in packages {
            let version =
                |v: &Option<String>| v.as_deref().map_or("—".into(), |v| code_span(&cell(v)));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                direction(change.change),
                code_span(&cell(&change.name)),
                version(&change.a),
                version(&change.b),
                cell(&why(change)),
            );
        }
        out.push('\n');
    }
    if let Some(files) = report.files.as_deref().filter(|f| !f.is_empty()) {
        // Folded, so that a long list does not bury the packages in a review thread.
        let count = files.len();
        let _ = writeln!(out, "#### Files\n\n<details><summary>{count} paths</summary>\n");
        for (group, changes) in groups(files) {
            let _ = writeln!(out, "**{}**\n\n| | path | what |\n|---|---|---|", cell(&group));
            for change in &changes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    file_marker(change.change),
                    code_span(&cell(&change.path)),
                    cell(&describe(change)),
                );
            }
            out.push('\n');
            for change in changes.iter().filter(|c| c.diff.is_some()) {
                let diff = change.diff.as_deref().unwrap_or_default();
                let _ = writeln!(out, "{}", code_block("diff", &ensure_newline(diff)));
            }
        }
        let _ = writeln!(out, "</details>\n");
    }
    if let Some(stat) = &report.stat {
        let _ = writeln!(out, "#### Stat\n");
        for (title, rows) in [("package", &stat.packages), ("directory", &stat.directories)] {
            let _ = writeln!(
                out,
                "| {title} | added | removed | changed | bytes A | bytes B |\n\
                 |---|---|---|---|---|---|"
            );
            for row in rows {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    cell(&row.name),
                    row.added,
                    row.removed,
                    row.changed,
                    row.bytes_a,
                    row.bytes_b
                );
            }
            out.push('\n');
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "> {}", cell(note));
    }
    out
}

fn side(info: &super::SideInfo) -> String {
    let arch = if info.arch.is_empty() { "any arch" } else { &info.arch };
    format!("{} ({}, {arch})", info.input, info.kind)
}

fn summary(report: &Report) -> String {
    if report.equal {
        return "no differences".to_string();
    }
    let count = |n: Option<usize>, one: &str, many: &str| {
        n.filter(|n| *n > 0).map(|n| format!("{n} {}", if n == 1 { one } else { many }))
    };
    let parts: Vec<String> = [
        count(report.config.as_ref().map(Vec::len), "config change", "config changes"),
        count(report.packages.as_ref().map(Vec::len), "package", "packages"),
        count(report.files.as_ref().map(Vec::len), "file", "files"),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("differences: {}", parts.join(", "))
}

fn config_line(change: &ConfigChange) -> (&'static str, String) {
    let show = |v: &serde_json::Value| v.to_string();
    match (&change.a, &change.b) {
        (None, Some(b)) => ("+", format!("{}: {}", change.field, show(b))),
        (Some(a), None) => ("-", format!("{}: {}", change.field, show(a))),
        (Some(a), Some(b)) => ("~", format!("{}: {} -> {}", change.field, show(a), show(b))),
        (None, None) => ("~", change.field.clone()),
    }
}

fn package_marker(direction: PackageDirection) -> &'static str {
    match direction {
        PackageDirection::Added => "+",
        PackageDirection::Removed => "-",
        PackageDirection::Upgraded => "^",
        PackageDirection::Downgraded => "v",
        PackageDirection::Changed => "~",
    }
}

fn direction(direction: PackageDirection) -> &'static str {
    match direction {
        PackageDirection::Added => "added",
        PackageDirection::Removed => "removed",
        PackageDirection::Upgraded => "upgraded",
        PackageDirection::Downgraded => "downgraded",
        PackageDirection::Changed => "changed",
    }
}

fn versions(change: &PackageChange) -> String {
    match (&change.a, &change.b) {
        (Some(a), Some(b)) => format!("{a} -> {b}"),
        (Some(v), None) | (None, Some(v)) => v.clone(),
        (None, None) => String::new(),
    }
}

fn why(change: &PackageChange) -> String {
    match &change.why {
        Some(steps) if !steps.is_empty() => steps.join(" > "),
        _ => "unknown".to_string(),
    }
}

fn file_marker(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Added => "+",
        ChangeKind::Removed => "-",
        ChangeKind::Changed => "~",
    }
}

/// Changes grouped by owning package, groups in name order and unowned paths last.
fn groups(files: &[FileChange]) -> Vec<(String, Vec<&FileChange>)> {
    let mut owned: std::collections::BTreeMap<&str, Vec<&FileChange>> = Default::default();
    let mut unowned = Vec::new();
    for change in files {
        match change.group() {
            Some(group) => owned.entry(group).or_default().push(change),
            None => unowned.push(change),
        }
    }
    let mut out: Vec<(String, Vec<&FileChange>)> =
        owned.into_iter().map(|(g, c)| (g.to_string(), c)).collect();
    if !unowned.is_empty() {
        out.push(("(no package)".to_string(), unowned));
    }
    out
}

/// What one change is, in a line: the entry for an addition or removal, each changed
/// field with both values for a change.
fn describe(change: &FileChange) -> String {
    let (Some(a), Some(b)) = (&change.a, &change.b) else {
        return change.a.as_ref().or(change.b.as_ref()).map(entry).unwrap_or_default();
    };
    let parts: Vec<String> = change.fields.iter().map(|f| field(*f, a, b, change)).collect();
    parts.join("; ")
}

fn entry(e: &EntryView) -> String {
    let mut text = format!("{} {} {}:{}", e.kind, e.mode, e.uid, e.gid);
    if e.kind == "file" {
        let _ = write!(text, " {} B", e.size);
    }
    if let Some(target) = &e.target {
        let _ = write!(text, " -> {target}");
    }
    if let Some(device) = &e.device {
        let _ = write!(text, " device {device}");
    }
    if let Some(first) = &e.hardlink {
        let _ = write!(text, ", hardlink to {first}");
    }
    text
}

fn field(f: Field, a: &EntryView, b: &EntryView, change: &FileChange) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let short =
        |v: &Option<String>| v.as_deref().map_or("-".to_string(), |s| s.chars().take(12).collect());
    match f {
        Field::Content => format!(
            "content {} -> {} B (sha256 {} -> {})",
            a.size,
            b.size,
            short(&a.sha256),
            short(&b.sha256)
        ),
        Field::Type => format!("type {} -> {}", a.kind, b.kind),
        Field::Mode => format!("mode {} -> {}", a.mode, b.mode),
        Field::Uid => format!("uid {} -> {}", a.uid, b.uid),
        Field::Gid => format!("gid {} -> {}", a.gid, b.gid),
        Field::Mtime => format!("mtime {} -> {}", time(a), time(b)),
        Field::Target => format!("target {} -> {}", opt(&a.target), opt(&b.target)),
        Field::Hardlink => format!("hardlink {} -> {}", opt(&a.hardlink), opt(&b.hardlink)),
        Field::Xattrs => format!("xattrs {:?} -> {:?}", a.xattrs, b.xattrs),
        Field::Device => format!("device {} -> {}", opt(&a.device), opt(&b.device)),
        Field::Owner => format!("package {} -> {}", opt(&change.package.a), opt(&change.package.b)),
        other => other.name().to_string(),
    }
}

/// An entry's mtime as its signed decimal value: `mtime` is the floor of the time, so −5.25 s
/// is (−6, 750000000) and is shown as `-5.250000000`.
fn time(e: &EntryView) -> String {
    if e.mtime_nanos == 0 {
        return e.mtime.to_string();
    }

    let stamp = flatroot_vfs::Timestamp { secs: e.mtime, nanos: e.mtime_nanos };
    let (negative, whole, nanos) = stamp.decimal_parts();
    let sign = if negative { "-" } else { "" };
    format!("{sign}{whole}.{nanos:09}")
}

fn stat_line(row: &StatRow) -> String {
    format!(
        "{}: +{} -{} ~{} ({} -> {} B)",
        row.name, row.added, row.removed, row.changed, row.bytes_a, row.bytes_b
    )
}

/// A value as inline code in a table cell.
fn code(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    code_span(&cell(&text))
}

/// `text` as a markdown code span: fenced by one backtick more than its longest run of
/// backticks, padded with spaces where it starts or ends with one (CommonMark 6.1).
fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// `text` (ending in a newline) as a fenced markdown code block of language `info`: fenced
/// by more backticks than its longest run, at least three, so that no line of it (a file's
/// own fence, say) can close the block early (CommonMark 4.5).
fn code_block(info: &str, text: &str) -> String {
    let text = crate::terminal::visible_lines(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}{info}\n{text}{fence}\n")
}

/// Text made safe for a Markdown table cell: pipes escaped, line breaks flattened, other
/// control characters [`visible`].
fn cell(text: &str) -> String {
    visible(&text.replace('|', "\\|").replace('\n', " ")).into_owned()
}

fn ensure_newline(text: &str) -> String {
    if text.ends_with('\n') { text.to_string() } else { format!("{text}\n") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Level, SideInfo};

    fn report() -> Report {
        let info =
            |input: &str| SideInfo { input: input.into(), kind: "image", arch: "amd64".into() };
        Report {
            schema: 1,
            equal: false,
            level: Level::All,
            ignore: vec![],
            strict: false,
            a: info("a"),
            b: info("b"),
            config: Some(vec![ConfigChange {
                field: "user".into(),
                a: Some("root".into()),
                b: Some("a|b".into()),
            }]),
            packages: Some(vec![PackageChange {
                name: "musl".into(),
                change: PackageDirection::Upgraded,
                a: Some("1.2.3-r3".into()),
                b: Some("1.2.5-r0".into()),
                why: None,
            }]),
            files: Some(vec![]),
            stat: None,
            notes: vec![],
        }
    }

    #[test]
    fn negative_sub_second_mtimes_show_their_value() {
        let view = |mtime, mtime_nanos| EntryView {
            kind: "file",
            mode: "0644".into(),
            uid: 0,
            gid: 0,
            mtime,
            mtime_nanos,
            size: 0,
            sha256: None,
            target: None,
            device: None,
            hardlink: None,
            xattrs: Default::default(),
        };
        assert_eq!(time(&view(-6, 750_000_000)), "-5.250000000");
        assert_eq!(time(&view(-1, 500_000_000)), "-0.500000000");
        assert_eq!(time(&view(5, 120_000_000)), "5.120000000");
        assert_eq!(time(&view(-3, 0)), "-3");
    }

    #[test]
    fn an_added_hardlink_names_the_path_it_links_to_and_a_device_its_numbers() {
        let link = EntryView {
            kind: "file",
            mode: "0644".into(),
            uid: 0,
            gid: 0,
            mtime: 0,
            mtime_nanos: 0,
            size: 3,
            sha256: None,
            target: None,
            device: None,
            hardlink: Some("/etc/motd".into()),
            xattrs: Default::default(),
        };
        assert_eq!(entry(&link), "file 0644 0:0 3 B, hardlink to /etc/motd");

        let null = EntryView {
            kind: "char-device",
            mode: "0666".into(),
            size: 0,
            device: Some("1,3".into()),
            hardlink: None,
            ..link
        };
        assert_eq!(entry(&null), "char-device 0666 0:0 device 1,3");
    }

    #[test]
    fn text_is_coloured_only_when_asked() {
        let plain = text(&report(), false);
        assert!(
            plain.contains("packages:\n  ^ musl 1.2.3-r3 -> 1.2.5-r0  why: unknown\n"),
            "{plain}"
        );
        assert!(plain.contains("  ~ user: \"root\" -> \"a|b\"\n"), "{plain}");
        assert!(!plain.contains('\x1b'));
        let coloured = text(&report(), true);
        assert!(coloured.contains("\x1b[32m^ musl 1.2.3-r3 -> 1.2.5-r0\x1b[0m"), "{coloured}");
    }

    #[test]
    fn a_carriage_return_before_a_line_feed_stays_visible_in_text() {
        let mut report = report();
        report.files = Some(vec![FileChange {
            path: "/f".into(),
            change: ChangeKind::Changed,
            fields: vec![Field::Content],
            package: Default::default(),
            a: None,
            b: None,
            diff: Some("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\r\n+a\n".to_string()),
        }]);
        let text = text(&report, false);
        assert!(text.contains("      -a^M\n      +a\n"), "{text}");
    }

    #[test]
    fn a_code_block_is_fenced_past_every_fence_inside_it() {
        assert_eq!(code_block("diff", "-a\n+b\n"), "```diff\n-a\n+b\n```\n");
        let inner = " ```\n-x\n+````y\n";
        let block = code_block("diff", inner);
        assert_eq!(block, format!("`````diff\n{inner}`````\n"));
        // No line inside is a closing fence: none is five backticks or more alone.
        let lines: Vec<&str> = block.lines().collect();
        let closing = |line: &&&str| line.trim_start().starts_with("`````");
        assert_eq!(lines.iter().filter(closing).count(), 2, "{block}");
    }

    #[test]
    fn what_an_image_says_reaches_no_terminal_as_a_control_character() {
        let mut report = report();
        report.config = Some(vec![ConfigChange {
            field: "labels.\x1b[31mk".into(),
            a: None,
            b: Some("\x1b]0;title\x07".into()),
        }]);
        report.notes = vec!["note \x1b[2J".into()];
        for rendered in [text(&report, false), markdown(&report)] {
            assert!(!rendered.contains('\x1b') && !rendered.contains('\x07'), "{rendered}");
            assert!(rendered.contains("labels.^[[31mk"), "{rendered}");
        }
        // The colours a terminal is given are the report's own.
        assert!(text(&report, true).contains("\x1b[32m+ labels.^[[31mk"));
    }

    #[test]
    fn markdown_escapes_table_cells() {
        let markdown = markdown(&report());
        assert!(markdown.contains("| `user` | `root` | `a\\|b` |\n"), "{markdown}");
        assert!(markdown.contains("| upgraded | `musl` | `1.2.3-r3` | `1.2.5-r0` | unknown |"));
    }
}
