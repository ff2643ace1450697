//! Text that came from outside (an image's labels, a layer's bytes, a registry's error
//! message, a package's name) made safe to show on a terminal.

use std::borrow::Cow;

/// `line` with every control character but tab in caret notation, as `cat -v` writes them
/// (`^M` for a carriage return, `^[` for an escape, `^?` for delete), and the C1 controls of
/// Unicode as `\u{9b}`: lines differing only in them look different, and none moves the
/// cursor, retitles or colours the terminal. A line feed becomes `^J`; see [`visible_lines`].
pub fn visible(line: &str) -> Cow<'_, str> {
    let control = |c: char| c.is_control() && c != '\t';
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

/// [`visible`] for text of several lines: its line feeds are kept.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    if !text.contains(|c: char| c.is_control() && c != '\t' && c != '\n') {
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
    }

    #[test]
    fn text_of_several_lines_keeps_its_line_feeds() {
        assert_eq!(visible_lines("a\x1b]0;title\x07\nb\r\n"), "a^[]0;title^G\nb^M\n");
        assert_eq!(visible("a\nb"), "a^Jb");
    }
}
