//! Text that came from outside (an image's labels, a layer's bytes, a registry's error
//! message, a package's name) made safe to show on a terminal.

use std::borrow::Cow;

/// `line` with every control character but tab in caret notation, as `cat -v` writes them
/// (`^M` for a carriage return, `^[` for an escape, `^?` for delete), and the C1 controls and
/// bidirectional formatting characters of Unicode as `\u{9b}` or `\u{202e}`: lines differing
/// only in them look different, none moves the cursor, retitles or colours the terminal, and
/// none reorders what follows it on the line. A line feed becomes `^J`; see
/// [`visible_lines`].
pub fn visible(line: &str) -> Cow<'_, str> {
    let control = |c: char| (c.is_control() && c != '\t') || is_bidi(c);
    if !line.contains(control) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        match c {
            '\x7f' => out.push_str("^?"),
            c if c.is_ascii_control() && c != '\t' => {
                out.push('^');
                out.push(char::from(c as u8 + 0x40));
            }
            c if control(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The characters that change the direction of the text after them (Unicode's bidirectional
/// marks, embeddings, overrides and isolates), with which a line can show other than it
/// holds, and Unicode's line and paragraph separators, which some terminals break lines at.
fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// [`visible`] for text of several lines: its line feeds are kept.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    if !text.contains(|c: char| (c.is_control() && c != '\t' && c != '\n') || is_bidi(c)) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(visible).collect();
    Cow::Owned(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_show_in_caret_notation_and_tabs_stay() {
        assert_eq!(visible("+a\r"), "+a^M");
        assert_eq!(visible("-\x1b[31mred\x7f"), "-^[[31mred^?");
        assert_eq!(visible("+tab\there"), "+tab\there");
        assert_eq!(visible("bell\x07 csi\u{9b}31m"), "bell^G csi\\u{9b}31m");
        assert!(matches!(visible("plain é"), Cow::Borrowed("plain é")));
        assert_eq!(visible("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(visible_lines("a\u{2066}b\nc"), "a\\u{2066}b\nc");
        assert_eq!(visible("line\u{2028}separator"), "line\\u{2028}separator");
    }

    #[test]
    fn text_of_several_lines_keeps_its_line_feeds() {
        assert_eq!(visible_lines("a\x1b]0;title\x07\nb\r\n"), "a^[]0;title^G\nb^M\n");
        assert_eq!(visible("a\nb"), "a^Jb");
    }
}
