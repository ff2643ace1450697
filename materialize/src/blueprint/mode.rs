//! File modes as a blueprint's `permissions` writes them.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Permission bits: the twelve low bits of a file mode (at most `0o7777`).
///
/// apko reads `permissions` as a YAML integer, so `0o755`, `0755` (octal, YAML 1.1 style),
/// decimal `493`, hex `0x1ed` and binary `0b111101101` are all the same mode, and `_` may
/// separate digits. flatroot accepts those forms; because
/// the YAML parser hands `0755` over as text, a quoted `"0755"` or `"0o755"` is accepted too.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(u32);

impl Mode {
    /// The largest mode: all permission bits, setuid, setgid and sticky.
    pub const MAX: u32 = 0o7777;

    /// Makes a mode; `None` when `bits` exceeds [`Mode::MAX`].
    pub fn new(bits: u32) -> Option<Mode> {
        (bits <= Mode::MAX).then_some(Mode(bits))
    }

    /// The mode bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Parses `0o755` or `0755` (octal), `493` (decimal), `0x1ed` or `0b111101101`, with
    /// `_` among the digits ignored (`0o7_55`), as go-yaml reads YAML 1.1 integers.
    pub fn parse(text: &str) -> Option<Mode> {
        let bits = super::number::parse_unsigned(text.trim())?;
        Mode::new(u32::try_from(bits).ok()?)
    }
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#o}", self.0)
    }
}

impl fmt::Display for Mode {
    /// Writes the mode as four octal digits, e.g. `0755`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mode, D::Error> {
        deserializer.deserialize_any(ModeVisitor)
    }
}

struct ModeVisitor;

impl Visitor<'_> for ModeVisitor {
    type Value = Mode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file mode such as 0o755, 0755 or 493, at most 0o7777")
    }

    fn visit_u64<E: de::Error>(self, bits: u64) -> Result<Mode, E> {
        u32::try_from(bits)
            .ok()
            .and_then(Mode::new)
            .ok_or_else(|| E::custom(format!("permissions {bits:#o} exceed 0o7777")))
    }

    fn visit_i64<E: de::Error>(self, bits: i64) -> Result<Mode, E> {
        match u64::try_from(bits) {
            Ok(bits) => self.visit_u64(bits),
            Err(_) => Err(E::custom(format!("negative permissions {bits}"))),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Mode, E> {
        Mode::parse(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parses_octal_and_decimal_forms() {
        assert_eq!(Mode::parse("0o755").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("0755").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("493").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("0").map(Mode::bits), Some(0));
        assert_eq!(Mode::parse("0o4755").map(Mode::bits), Some(0o4755));
        assert_eq!(Mode::parse("0x1ed").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("0b111101101").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("0o7_55").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("4_93").map(Mode::bits), Some(0o755));
        assert_eq!(Mode::parse("+493").map(Mode::bits), Some(0o755));
    }

    #[test]
    fn mode_rejects_non_octal_digits_and_large_values() {
        assert_eq!(Mode::parse("0o789"), None);
        assert_eq!(Mode::parse("0789"), None);
        assert_eq!(Mode::parse("0o17777"), None);
        assert_eq!(Mode::parse("rwxr-xr-x"), None);
        assert_eq!(Mode::parse(""), None);
        assert_eq!(Mode::parse("0o+7"), None);
        assert_eq!(Mode::parse("-493"), None);
        assert_eq!(Mode::parse("_0o755"), None, "go-yaml reads it as text");
        assert_eq!(Mode::parse("0o4294967789"), None);
        assert_eq!(Mode::parse("49a"), None);
        assert_eq!(Mode::parse("0b102"), None);
        assert_eq!(Mode::parse("_"), None);
    }
}
