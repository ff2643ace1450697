//! The one place that talks to the YAML parser.
//!
//! serde_yaml 0.9 is deprecated upstream; everything that names it lives here so that it can
//! be swapped for another parser without touching the rest of the blueprint code. What this
//! module promises the rest: [`from_str`] deserializes one document strictly, and every
//! failure is a [`SyntaxError`] carrying the message and, where the parser knows it, the
//! 1-based line and column.
//!
//! Hostile input. serde_yaml bounds nesting during deserialization (128 levels) and the number
//! of alias expansions (100 per event of the document), so the classic "billion laughs" and
//! deep block nesting fail quickly. It does not bound the cost of *parsing* deeply nested flow
//! collections: libyaml rescans its simple-key stack, one entry per open `[`/`{`, for every
//! token, so `[[[[…` costs time quadratic in the depth (50 000 levels took seconds in a test).
//! And its alias bound is relative: up to 100 expansions per event. Through two nested aliased
//! collections (the schema has no deeper ones) a 150 KiB document grew to 200 MiB before it
//! was stopped, and the cost scales with the document. [`from_str`] therefore scans the text
//! first and bounds both flow depth and the number of aliases, see [`prescan`].

use std::fmt;

use serde::de::DeserializeOwned;

mod locate;

/// The deepest flow nesting (`[`/`{`) accepted before parsing. Blueprints need at most a few
/// levels; serde_yaml would refuse more than 128 levels of any nesting anyway.
pub const MAX_FLOW_DEPTH: usize = 64;

/// The most aliases (`*name`) a document may use. With at most two levels of aliased
/// collections in the schema this bounds expansion to about 250 000 values, a few MiB.
pub const MAX_ALIASES: usize = 1000;

/// The most bytes of text aliases may stand for in all: a document of `N` bytes may use at
/// most this many divided by `N` aliases (and never more than [`MAX_ALIASES`]), since an
/// alias can repeat up to the whole document; one anchored string of 3 MiB and 999 aliases
/// to it would otherwise take gigabytes.
pub const ALIAS_TEXT_BUDGET: usize = 64 << 20;

/// A document that is not valid YAML or does not fit the blueprint schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    message: String,
    line: Option<usize>,
    column: Option<usize>,
    unknown_key: Option<String>,
}

impl SyntaxError {
    /// The parser's explanation, without the location (e.g. ``contents: unknown field
    /// `foo`, expected one of …``).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 1-based line of the problem, when the parser reports one.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The 1-based column of the problem, when the parser reports one.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// For an unknown key, its dotted path, e.g. `contents.foo` or `paths[0].mode`.
    pub fn unknown_key(&self) -> Option<&str> {
        self.unknown_key.as_deref()
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Deserializes one YAML document into `T`.
///
/// Errors: a [`SyntaxError`] when the flow nesting exceeds [`MAX_FLOW_DEPTH`] or the aliases
/// exceed [`MAX_ALIASES`], the text is not
/// YAML, holds more than one document, exceeds serde_yaml's nesting or alias limits, or does
/// not match `T` (unknown keys included, when `T` denies them).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, SyntaxError> {
    let text = without_bom(text);
    let max_aliases = MAX_ALIASES.min(ALIAS_TEXT_BUDGET / text.len().max(1));
    prescan(text, MAX_FLOW_DEPTH, max_aliases)?;
    if text.contains("<<") {
        match serde_yaml::from_str::<serde_yaml::Value>(text) {
            Ok(mut value) if has_merge_key(&value) => return from_merged(&mut value, text),
            Ok(_) => {}
            // A document that is no YAML (a key given twice, say) is reported as such, not
            // as a schema that knows no `<<` key.
            Err(error) => return Err(convert(error, text)),
        }
    }
    serde_yaml::from_str(text).map_err(|error| {
        // Deserialization stops at the first value of the wrong type, which can come before
        // the parser reaches a syntax error further on (a `[` left open at the end reads as
        // a sequence first). A document that is not YAML is reported as such.
        match serde_yaml::from_str::<serde::de::IgnoredAny>(text) {
            Err(syntax) => convert(syntax, text),
            Ok(_) => convert(error, text),
        }
    })
}

/// Deserializes a document that uses YAML 1.1 merge keys (`<<: *anchor`), which apko's
/// decoder applies and serde_yaml's typed deserializer does not: the keys are merged first,
/// a mapping's own keys winning over merged ones. The merged document is written out and
/// read again, so that an error in it names its field (`paths[1].uid: …`) as one in any
/// other document does; the line and column of the merged text are not the file's, so the
/// field is looked up in the file (see [`locate`]), and left unplaced where it cannot be.
fn from_merged<T: DeserializeOwned>(
    value: &mut serde_yaml::Value,
    text: &str,
) -> Result<T, SyntaxError> {
    apply_merge(value, "").map_err(|MergeError { field, what }| {
        let (message, key) = if field.is_empty() {
            (what.to_owned(), "<<".to_owned())
        } else {
            (format!("{field}: {what}"), format!("{field}.<<"))
        };
        let (line, column) = locate::locate(text, &key, true).unzip();
        SyntaxError { message, line, column, unknown_key: None }
    })?;
    let merged = serde_yaml::to_string(value).map_err(|error| convert(error, text))?;
    serde_yaml::from_str(&merged).map_err(|error| {
        let SyntaxError { message, unknown_key, .. } = convert(error, &merged);
        let place = match &unknown_key {
            Some(key) => locate::locate(text, key, true),
            None => {
                message.split_once(": ").and_then(|(path, _)| locate::locate(text, path, false))
            }
        };
        let (line, column) = place.unzip();
        SyntaxError { message, line, column, unknown_key }
    })
}

/// A file's text without its byte order mark, which is no part of the document (editors on
/// some systems write one) and which no line or column counts.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// A file's `text` read as a YAML value with its merge keys applied; None when it cannot be.
pub(super) fn merged_value(text: &str) -> Option<serde_yaml::Value> {
    let mut value = serde_yaml::from_str(without_bom(text)).ok()?;
    apply_merge(&mut value, "").ok()?;
    Some(value)
}

/// The 1-based line and column where the field at `path` is written in `text`: of its value,
/// or with `key` of its key (see [`locate`]).
pub(super) fn locate_field(text: &str, path: &[FieldStep], key: bool) -> Option<(usize, usize)> {
    locate::locate_steps(without_bom(text), path, key)
}

/// As [`locate_field`], for a path spelled as serde_yaml spells it (`accounts.users[1].uid`).
pub(super) fn locate_path(text: &str, path: &str, key: bool) -> Option<(usize, usize)> {
    locate::locate(without_bom(text), path, key)
}

/// One step of a field path: a mapping key or a sequence index.
pub(super) use locate::Step as FieldStep;

/// Merges every `<<` of `value` into its mapping as go-yaml does: a mapping's own keys win
/// over merged ones, an earlier mapping of a merged list over a later one, and an operand
/// that merges keys itself (an anchored mapping built with `<<`) is merged first, so that
/// chains of any length resolve. serde_yaml's `apply_merge` would leave such an operand's
/// `<<` behind as a literal key. Recursion is bounded by the parser's nesting limit.
fn apply_merge(value: &mut serde_yaml::Value, field: &str) -> Result<(), MergeError> {
    use serde_yaml::Value;

    match value {
        Value::Mapping(mapping) => merge_into(mapping, field),
        Value::Sequence(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(index, item)| apply_merge(item, &format!("{field}[{index}]"))),
        Value::Tagged(tagged) => apply_merge(&mut tagged.value, field),
        _ => Ok(()),
    }
}

/// [`apply_merge`] for one mapping at `field` (dotted, empty at the top): its `<<` first,
/// then its values.
fn merge_into(mapping: &mut serde_yaml::Mapping, field: &str) -> Result<(), MergeError> {
    use serde_yaml::Value;

    let at = |what| MergeError { field: field.to_owned(), what };
    if let Some(operand) = mapping.remove("<<") {
        let operands = match operand {
            Value::Mapping(single) => vec![single],
            Value::Sequence(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Mapping(each) => Ok(each),
                    _ => Err(at("a merge key `<<` lists something that is not a mapping")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(at("a merge key `<<` takes a mapping or a list of mappings")),
        };
        for mut operand in operands {
            merge_into(&mut operand, field)?;
            for (key, item) in operand {
                mapping.entry(key).or_insert(item);
            }
        }
    }
    mapping.iter_mut().try_for_each(|(key, item)| {
        let key = key.as_str().map_or_else(|| "?".to_owned(), ToOwned::to_owned);
        let nested = if field.is_empty() { key } else { format!("{field}.{key}") };
        apply_merge(item, &nested)
    })
}

/// A merge key whose operand is not a mapping (or a list of them): the dotted field of the
/// mapping that holds it (empty at the top) and what is wrong.
struct MergeError {
    field: String,
    what: &'static str,
}

/// Whether a mapping anywhere in `value` has the merge key `<<`.
fn has_merge_key(value: &serde_yaml::Value) -> bool {
    match value {
        serde_yaml::Value::Mapping(mapping) => {
            mapping.contains_key("<<") || mapping.values().any(has_merge_key)
        }
        serde_yaml::Value::Sequence(items) => items.iter().any(has_merge_key),
        serde_yaml::Value::Tagged(tagged) => has_merge_key(&tagged.value),
        _ => false,
    }
}

fn convert(error: serde_yaml::Error, original: &str) -> SyntaxError {
    let location = error.location();
    let mut message = error.to_string();
    // The helpers below read the text line by line, as `\n` ends lines.
    let text = &*with_newlines(original);

    // serde_yaml appends " at line L column C" to its message; the location is kept apart.
    if let Some(location) = &location {
        let suffix = format!(" at line {} column {}", location.line(), location.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    let mut line = location.as_ref().map(serde_yaml::Location::line);
    let mut column = location.as_ref().map(serde_yaml::Location::column);

    // serde_yaml places a repeated key at the start of its mapping, and a second document
    // nowhere; point at the line a user has to change instead.
    if let (Some(key), Some(at_line), Some(at_column)) = (repeated_key(&message), line, column)
        && let (at_line, at_column) = past_properties(text, at_line, at_column)
        && let Some(repeat) = second_key_line(text, at_line, at_column, key)
    {
        (line, column) = (Some(repeat), Some(at_column));
    }
    if message.contains("more than one document")
        && let Some(second) = second_document_line(text)
    {
        (line, column) = (Some(second), Some(1));
    }

    // libyaml's end-of-stream mark lies on the line after the last one; point at where the
    // text ends instead, and say so in the message that quoted the mark.
    if let (Some(at_line), Some(at_column)) = (line, column)
        && let Some((last, end)) = end_of_text(text)
        && at_line > last
    {
        let mark = format!(" at line {at_line} column {at_column}");
        message = message.replacen(&mark, " at the end of the file", 1);
        (line, column) = (Some(last), Some(end));
    }

    // libyaml's reader places a character it refuses (a control character) by its byte
    // offset alone, and serde_yaml at 1:1.
    if let Some((said, offset)) = message.rsplit_once(" at position ")
        && let Ok(offset) = offset.parse::<usize>()
        && let Some((at_line, at_column)) = line_and_column(original.as_bytes(), offset)
    {
        message = said.to_owned();
        (line, column) = (Some(at_line), Some(at_column));
    }

    // serde_yaml names no anchor it cannot find; the alias at the location does.
    if message == "unknown anchor"
        && let (Some(at_line), Some(at_column)) = (line, column)
        && let Some(name) = alias_at(text, at_line, at_column)
    {
        message = format!(
            "unknown anchor `{name}`: no `&{name}` comes before this `*{name}` (anchors belong \
             to their file; an included file's cannot be used)"
        );
    }

    // serde_yaml's depth limit is met by deep nesting, or by an alias inside its own anchor.
    if message == "recursion limit exceeded" {
        message = "nested deeper than 128 levels, or an alias inside the collection its \
                   anchor names (`&x {<<: *x}`)"
            .to_owned();
    }

    // serde_yaml stops expanding aliases after 100 times the document's own events; say so.
    if message == "repetition limit exceeded" {
        message = "aliases stand for too much: expanding them would repeat more than 100 \
                   times what the document itself holds (merge keys of aliases that merge \
                   aliases multiply at every level)"
            .to_owned();
    }

    let message = crate::plain_serde_message(&message, "a mapping");
    let unknown_key = unknown_key(&message);
    SyntaxError { message, line, column, unknown_key }
}

/// `bytes` from its first byte that is no space, tab or carriage return.
fn skip_blanks(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\r'));
    start.and_then(|at| bytes.get(at..)).unwrap_or_default()
}

/// The name of the alias (`*name`) at 1-based `line` and `column` of `text`, if one is there.
fn alias_at(text: &str, line: usize, column: usize) -> Option<&str> {
    let line = text.lines().nth(line.checked_sub(1)?)?;
    let start = line.char_indices().nth(column.checked_sub(1)?).map(|(at, _)| at)?;
    let name = line.get(start..)?.strip_prefix('*')?;
    let end = name.find(|c: char| c.is_whitespace() || ",[]{}".contains(c)).unwrap_or(name.len());
    name.get(..end).filter(|name| !name.is_empty())
}

/// `text` with every line break the YAML parser counts (`\r\n`, a lone `\r`, NEL, LS, PS)
/// written as `\n`, so that lines and columns read from it are the parser's.
fn with_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    let breaks = ['\r', '\u{85}', '\u{2028}', '\u{2029}'];
    if !text.contains(breaks) {
        return std::borrow::Cow::Borrowed(text);
    }
    let text = text.replace("\r\n", "\n");
    std::borrow::Cow::Owned(text.replace(breaks, "\n"))
}

/// The 1-based line and column (in characters) of the byte at `offset` of `bytes`, with
/// line breaks counted as the YAML parser counts them ([`with_newlines`]); `None` past their
/// end.
fn line_and_column(bytes: &[u8], offset: usize) -> Option<(usize, usize)> {
    let before = String::from_utf8_lossy(bytes.get(..offset)?);
    let before = with_newlines(&before);
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line = before.matches('\n').count() + 1;
    Some((line, before[line_start..].chars().count() + 1))
}

/// The error for a blueprint whose bytes are not UTF-8 text: where the first byte that is
/// not lies, and its value.
pub(super) fn not_utf8(bytes: &[u8], error: &std::str::Utf8Error) -> SyntaxError {
    let offset = error.valid_up_to();
    let (line, column) = line_and_column(bytes, offset).unzip();
    let byte = bytes.get(offset).copied().unwrap_or_default();
    SyntaxError {
        message: format!("byte {byte:#04x} is not UTF-8 text, which a blueprint must be"),
        line,
        column,
        unknown_key: None,
    }
}

/// The 1-based number of the text's last line that is neither blank nor a comment, and the
/// column just past its last character; `None` for a text of neither.
fn end_of_text(text: &str) -> Option<(usize, usize)> {
    let content = |line: &str| !line.trim().is_empty() && !line.trim_start().starts_with('#');
    let (index, last) = text.lines().enumerate().filter(|(_, line)| content(line)).last()?;
    Some((index + 1, last.trim_end().chars().count() + 1))
}

/// The key of serde's "duplicate field `key`", of a map's "duplicate key `key`", or of
/// serde_yaml's untyped `duplicate entry with key "key"`.
fn repeated_key(message: &str) -> Option<&str> {
    let markers = [
        ("duplicate field `", '`'),
        ("duplicate key `", '`'),
        ("duplicate entry with key \"", '"'),
    ];
    let (start, close) = markers
        .iter()
        .find_map(|(marker, close)| message.find(marker).map(|at| (at + marker.len(), *close)))?;
    message.get(start..)?.split(close).next()
}

/// The 1-based line where `key` appears the second time among the keys of the block
/// mapping whose first key is at `line`, `column`; `None` for a flow mapping or a key
/// written in a way this plain scan does not read (quoted with escapes, say).
fn second_key_line(text: &str, line: usize, column: usize, key: &str) -> Option<usize> {
    let indent = column.checked_sub(1)?;
    let mut seen = 0;
    for (index, text_line) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let trimmed = text_line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let first = index + 1 == line;
        let lead = text_line.get(..indent)?;
        // The mapping's first line may start with a sequence dash (`- key: …`).
        let lead_ok = lead.bytes().all(|b| b == b' ') || (first && lead.trim_end().ends_with('-'));
        if !lead_ok {
            return None;
        }
        let rest = &text_line[indent..];
        if rest.starts_with(' ') {
            continue; // a line of a nested value
        }
        let written = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")];
        let is_key = written.iter().any(|w| {
            rest.strip_prefix(w.as_str()).is_some_and(|after| after.trim_start().starts_with(':'))
        });
        if is_key {
            seen += 1;
            if seen == 2 {
                return Some(index + 1);
            }
        }
    }
    None
}

/// Where a block mapping marked at `line`, `column` has its first key: the mark itself, or,
/// when the mapping's anchor or tag (`&m`, `!t`) stands there alone on its line, the first
/// line of content after it, at its indentation.
fn past_properties(text: &str, line: usize, column: usize) -> (usize, usize) {
    let at = |line: usize| text.lines().nth(line.checked_sub(1)?);
    let rest =
        at(line).and_then(|l| l.char_indices().nth(column.checked_sub(1)?).map(|(i, _)| &l[i..]));
    let Some(rest) = rest.filter(|rest| rest.starts_with(['&', '!'])) else {
        return (line, column);
    };
    let alone = rest.split_whitespace().take_while(|word| !word.starts_with('#'));
    if !alone.into_iter().all(|word| word.starts_with(['&', '!'])) {
        return (line, column);
    }
    let content = text.lines().enumerate().skip(line).find(|(_, l)| {
        let trimmed = l.trim_start();
        !trimmed.is_empty() && !trimmed.starts_with('#')
    });
    match content {
        Some((index, l)) => (index + 1, l.len() - l.trim_start().len() + 1),
        None => (line, column),
    }
}

/// The 1-based line of the `---` that starts a second document.
fn second_document_line(text: &str) -> Option<usize> {
    let mut content = false;
    for (index, line) in text.lines().enumerate() {
        let marker = line.strip_prefix("---").is_some_and(|r| r.is_empty() || r.starts_with(' '));
        if marker && content {
            return Some(index + 1);
        }
        let trimmed = line.trim_start();
        content |= marker || !(trimmed.is_empty() || trimmed.starts_with('#'));
    }
    None
}

/// Recovers the key path from serde's "``[path: ]unknown field `key`, expected …``".
fn unknown_key(message: &str) -> Option<String> {
    const MARKER: &str = "unknown field `";
    let at = message.find(MARKER)?;
    let rest = message.get(at + MARKER.len()..)?;
    let key = rest.split('`').next()?;
    let prefix = message.get(..at)?.trim_end().trim_end_matches(':');
    if prefix.is_empty() { Some(key.to_owned()) } else { Some(format!("{prefix}.{key}")) }
}

/// Fails when flow collections (`[…]`, `{…}`) nest deeper than `max_depth`, or when the text
/// uses more than `max_aliases` aliases.
///
/// This is a lexical scan, not a parser: it follows YAML's rules for what can start a flow
/// collection or an alias — a `[`, `{` or `*` at the start of a token, outside quoted
/// scalars, comments, block scalars (`|`, `>`) and block plain scalars — and counts nesting
/// inside flow collections. It errs on the side of counting: a bracket it cannot place is
/// treated as structure, so a false alarm needs dozens of unbalanced brackets in the text,
/// which no real blueprint has.
pub fn prescan(text: &str, max_depth: usize, max_aliases: usize) -> Result<(), SyntaxError> {
    let mut scan = Scan::new(text.as_bytes());
    scan.run(max_depth, max_aliases)
}

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    line_start: usize,
}

impl<'a> Scan<'a> {
    fn new(bytes: &'a [u8]) -> Scan<'a> {
        Scan { bytes, at: 0, line: 1, line_start: 0 }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.at.checked_add(offset)?).copied()
    }

    fn bump(&mut self) {
        if self.peek(0) == Some(b'\n') {
            self.line += 1;
            self.line_start = self.at + 1;
        }
        self.at += 1;
    }

    fn skip_to_line_end(&mut self) {
        while let Some(byte) = self.peek(0) {
            if byte == b'\n' {
                return;
            }
            self.bump();
        }
    }

    /// Skips a quoted scalar whose opening quote is at the cursor (it may span lines), and
    /// refuses one that is the key `<<`: go-yaml reads a quoted `<<` as a plain key and an
    /// unquoted one as a merge key, and serde_yaml's values no longer tell the two apart.
    fn skip_quoted(&mut self, quote: u8) -> Result<(), SyntaxError> {
        let (start, line, column) = (self.at, self.line, self.column());
        self.skip_quoted_text(quote);

        let scalar = self.bytes.get(start..self.at).unwrap_or_default();
        if scalar.get(1..scalar.len().saturating_sub(1)) == Some(b"<<") && self.key_follows() {
            return Err(Self::literal_merge_key(line, column, "quoted"));
        }
        Ok(())
    }

    /// Whether a key's `:` comes next: after blanks, and for an explicit key (`? "<<"`) after
    /// line ends and comment lines too (a line may begin with `:` only as a key's value).
    fn key_follows(&self) -> bool {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let mut lines = rest.split(|byte| *byte == b'\n');
        let first = |line: &[u8]| skip_blanks(line).first().copied();
        match lines.next().and_then(first) {
            Some(byte) => byte == b':',
            None => lines.filter_map(first).find(|byte| *byte != b'#') == Some(b':'),
        }
    }

    /// Refuses a tag other than `!!merge` on a plain `<<` key: go-yaml reads `!!str <<: x`
    /// as a key named `<<`, and merges for `! <<`, which serde_yaml keeps as a tagged key
    /// (refused too, rather than read as neither). `tag` ends at the cursor.
    fn check_tagged_key(&self, tag: &[u8], line: usize, column: usize) -> Result<(), SyntaxError> {
        let merge_tags: [&[u8]; 2] = [b"!!merge", b"!<tag:yaml.org,2002:merge>"];
        let key = skip_blanks(self.bytes.get(self.at..).unwrap_or_default());
        let plain_merge_key =
            key.strip_prefix(b"<<").is_some_and(|after| skip_blanks(after).first() == Some(&b':'));
        if plain_merge_key && !merge_tags.contains(&tag) {
            return Err(Self::literal_merge_key(line, column, "tagged"));
        }
        Ok(())
    }

    fn literal_merge_key(line: usize, column: usize, how: &str) -> SyntaxError {
        let message = format!(
            "a {how} `<<` key is refused: apko reads it as a key named `<<`, where flatroot \
             would merge its value; write `<<` plain and untagged to merge"
        );
        SyntaxError { message, line: Some(line), column: Some(column), unknown_key: None }
    }

    /// Moves the cursor past a quoted scalar whose opening quote is at the cursor.
    fn skip_quoted_text(&mut self, quote: u8) {
        self.bump();
        while let Some(byte) = self.peek(0) {
            if quote == b'"' && byte == b'\\' {
                self.bump();
            } else if byte == quote {
                // `''` inside single quotes is an escaped quote.
                if quote == b'\'' && self.peek(1) == Some(b'\'') {
                    self.bump();
                } else {
                    self.bump();
                    return;
                }
            }
            self.bump();
        }
    }

    fn is_blank(byte: Option<u8>) -> bool {
        matches!(byte, None | Some(b' ' | b'\t' | b'\r' | b'\n'))
    }

    /// The cursor's 1-based column.
    fn column(&self) -> usize {
        self.at - self.line_start + 1
    }

    fn error_here(&self, message: String) -> SyntaxError {
        let column = self.column();
        SyntaxError { message, line: Some(self.line), column: Some(column), unknown_key: None }
    }

    fn too_deep(&self, limit: usize) -> SyntaxError {
        self.error_here(format!("flow collections nest deeper than {limit} levels"))
    }

    fn count_alias(&self, aliases: &mut usize, limit: usize) -> Result<(), SyntaxError> {
        *aliases += 1;
        if *aliases > limit {
            let why = format!(
                "more than {limit} aliases (at most {MAX_ALIASES}, fewer the longer the \
                 document, so that what they stand for stays small)"
            );
            return Err(self.error_here(why));
        }
        Ok(())
    }

    fn run(&mut self, limit: usize, max_aliases: usize) -> Result<(), SyntaxError> {
        let mut aliases = 0usize;
        let mut depth = 0usize;
        let mut token_start = true;
        let mut block_plain = false;
        let mut block_scalar_indent: Option<usize> = None;
        let mut line_indent = 0usize;
        let mut previous_blank = true;

        while let Some(byte) = self.peek(0) {
            if self.at == self.line_start {
                let line = self.bytes.get(self.at..).unwrap_or_default();
                line_indent = line.iter().take_while(|b| **b == b' ').count();
                let first = line.get(line_indent);
                let blank_line = first.is_none_or(|b| matches!(b, b'\n' | b'\r'));

                // Lines of a block scalar are text, whatever they contain.
                if let Some(parent) = block_scalar_indent {
                    if blank_line || line_indent > parent {
                        self.skip_to_line_end();
                        self.bump();
                        continue;
                    }
                    block_scalar_indent = None;
                }
                if depth == 0 {
                    token_start = true;
                    block_plain = false;
                }
                previous_blank = true;
            }

            if depth > 0 {
                match byte {
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > limit {
                            return Err(self.too_deep(limit));
                        }
                        token_start = true;
                    }
                    b']' | b'}' => {
                        depth -= 1;
                        token_start = depth > 0;
                    }
                    b',' | b':' | b' ' | b'\t' | b'\r' | b'\n' => token_start = true,
                    b'#' if previous_blank => {
                        self.skip_to_line_end();
                        continue;
                    }
                    b'\'' | b'"' if token_start => {
                        self.skip_quoted(byte)?;
                        token_start = false;
                        previous_blank = false;
                        continue;
                    }
                    b'*' if token_start => {
                        self.count_alias(&mut aliases, max_aliases)?;
                        token_start = false;
                    }
                    b'!' if token_start => {
                        let (start, line, column) = (self.at, self.line, self.column());
                        while !Self::is_blank(self.peek(0))
                            && !matches!(self.peek(0), Some(b',' | b'[' | b']' | b'{' | b'}'))
                        {
                            self.bump();
                        }
                        let tag = self.bytes.get(start..self.at).unwrap_or_default();
                        self.check_tagged_key(tag, line, column)?;
                        token_start = false;
                        previous_blank = false;
                        continue;
                    }
                    _ => token_start = false,
                }
                previous_blank = Self::is_blank(Some(byte));
                self.bump();
                continue;
            }

            match byte {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    if !block_plain {
                        token_start = true;
                    }
                }
                b'#' if previous_blank => {
                    self.skip_to_line_end();
                    continue;
                }
                b':' if Self::is_blank(self.peek(1)) => {
                    block_plain = false;
                    token_start = true;
                }
                _ if block_plain || !token_start => {}
                b'[' | b'{' => {
                    depth = 1;
                    if depth > limit {
                        return Err(self.too_deep(limit));
                    }
                    token_start = true;
                }
                b'\'' | b'"' => {
                    self.skip_quoted(byte)?;
                    token_start = false;
                    previous_blank = false;
                    continue;
                }
                b'|' | b'>' => {
                    // Not checked: a block scalar key (`? |` then `<<`), which go-yaml reads
                    // as a key named `<<` and flatroot merges.
                    block_scalar_indent = Some(line_indent);
                    self.skip_to_line_end();
                    continue;
                }
                b'-' | b'?' if Self::is_blank(self.peek(1)) => {}
                b'&' | b'!' | b'*' => {
                    if byte == b'*' {
                        self.count_alias(&mut aliases, max_aliases)?;
                    }
                    let (start, line, column) = (self.at, self.line, self.column());
                    while !Self::is_blank(self.peek(0)) {
                        self.bump();
                    }
                    if byte == b'!' {
                        let tag = self.bytes.get(start..self.at).unwrap_or_default();
                        self.check_tagged_key(tag, line, column)?;
                    }
                    previous_blank = false;
                    continue;
                }
                _ => block_plain = true,
            }
            previous_blank = Self::is_blank(Some(byte));
            self.bump();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_that_is_not_yaml_is_a_syntax_error_before_a_type_error() {
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only its type is read")]
        struct Entrypoint {
            command: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only its type is read")]
        struct Doc {
            entrypoint: Entrypoint,
        }
        let error = from_str::<Doc>("entrypoint:\n  command: [").unwrap_err();
        assert!(error.message().contains("while parsing"), "{error}");
        assert_eq!((error.line(), error.column()), (Some(2), Some(13)), "{error}");

        // Well-formed YAML of the wrong type is still a type error.
        let error = from_str::<Doc>("entrypoint:\n  command: [a]\n").unwrap_err();
        assert!(error.message().contains("invalid type: sequence"), "{error}");
    }

    #[test]
    fn an_error_at_the_end_of_the_text_points_at_its_last_line() {
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only its type is read")]
        struct Doc {
            packages: Vec<String>,
        }
        let texts = ["packages: [a, b", "packages: [a, b\n", "packages: [a, b  \n\n  \n# end\n"];
        for text in texts {
            let error = from_str::<Doc>(text).unwrap_err();
            assert_eq!((error.line(), error.column()), (Some(1), Some(16)), "{text:?}");
            assert!(error.message().contains("at the end of the file"), "{error}");
            assert!(!error.message().contains("at line 2"), "{error}");
        }

        // An error inside the text keeps the parser's place.
        let error = from_str::<Doc>("packages: [a, b\nother: 1\n").unwrap_err();
        assert_eq!(error.line(), Some(2), "{error}");
    }

    #[test]
    fn ordinary_flow_collections_pass() {
        let text = "a: [x, {b: [1, 2]}, 'y]', \"z}\"]\nc: echo [not flow\n";
        assert_eq!(prescan(text, 3, 10), Ok(()));
    }

    #[test]
    fn depth_beyond_the_limit_fails_at_the_bracket() {
        let error = prescan("a:\n  b: [[[[x]]]]\n", 3, 10).unwrap_err();
        assert_eq!((error.line(), error.column()), (Some(2), Some(9)));
    }

    #[test]
    fn brackets_in_text_are_not_counted() {
        let text = "\
cmd: run [[[[[[
# [[[[[[[
msg: '[[[[['
more: \"[[[[[[\"
cert: |
  [[[[[[[[
  'unclosed quote
after: [ok]
";
        assert_eq!(prescan(text, 1, 10), Ok(()));
    }

    #[test]
    fn quotes_inside_flow_do_not_hide_nesting() {
        let text = format!("a: {}", "[ \"]\" ".repeat(10));
        assert!(prescan(&text, 5, 10).is_err());
    }

    #[test]
    fn block_scalar_ends_at_a_less_indented_line() {
        let text = "a: |\n  'x\nb: [[[x]]]\n";
        assert!(prescan(text, 2, 10).is_err());
    }

    #[test]
    fn aliases_are_counted_in_block_and_flow_context() {
        let text = "a: &x 1\nb: *x\nc: [*x, *x]\nd: '*x'\ne: 2*x\n";
        assert_eq!(prescan(text, 5, 3), Ok(()));
        let error = prescan(text, 5, 2).unwrap_err();
        assert_eq!((error.line(), error.column()), (Some(3), Some(9)));
    }

    #[test]
    fn unknown_key_path_is_recovered_from_the_message() {
        let path = unknown_key("contents: unknown field `foo`, expected one of `a`, `b`");
        assert_eq!(path.as_deref(), Some("contents.foo"));
        assert_eq!(unknown_key("unknown field `bar`, expected `a`").as_deref(), Some("bar"));
        assert_eq!(unknown_key("invalid type: sequence"), None);
    }
}
