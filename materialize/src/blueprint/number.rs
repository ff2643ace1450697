//! Unsigned integers as apko's YAML decoder (go-yaml v3) reads a plain scalar into an
//! integer field: `_` among the digits ignored, `0x`, `0o` and `0b` prefixes, and YAML 1.1's
//! leading `0` for octal. serde_yaml reads YAML 1.2 and hands `1_000` or `0755` over as text,
//! which these functions read as go-yaml would.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Parses `text` as go-yaml reads an unsigned integer: `1000`, `+1000`, `1_000`, `0x3e8`,
/// `0o1750`, `01750` (octal) or `0b1111101000`, prefixes in either case (`0X3E8`). `None`
/// for anything else, such as a scalar that does not start as a number (`_1000`, which
/// go-yaml reads as text), a sign of minus, or a value past `u64`.
pub(super) fn parse_unsigned(text: &str) -> Option<u64> {
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '+') {
        return None;
    }
    let text: String = text.chars().filter(|c| *c != '_').collect();
    let text = text.strip_prefix('+').unwrap_or(&text);
    let prefixed =
        |lower: &str, upper: &str| text.strip_prefix(lower).or_else(|| text.strip_prefix(upper));
    let (digits, radix) = if let Some(octal) = prefixed("0o", "0O") {
        (octal, 8)
    } else if let Some(hex) = prefixed("0x", "0X") {
        (hex, 16)
    } else if let Some(binary) = prefixed("0b", "0B") {
        (binary, 2)
    } else if let Some(octal) = text.strip_prefix('0').filter(|rest| !rest.is_empty()) {
        (octal, 8)
    } else {
        (text, 10)
    };

    // `from_str_radix` would take another sign after the prefix; these are digits only.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Reads a user or group id (`uid`, `gid`) as go-yaml reads one into a `uint32`, where
/// `null` leaves it 0.
pub(super) fn yaml11_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    Ok(deserializer.deserialize_any(IdVisitor)?.unwrap_or(0))
}

/// Reads an id that may be left out or `null` (`None`), as [`yaml11_id`] reads one.
pub(super) fn yaml11_optional_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    deserializer.deserialize_any(IdVisitor)
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Option<u32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a user or group id from 0 to 4294967295, such as 1000 or 1_000")
    }

    fn visit_u64<E: de::Error>(self, id: u64) -> Result<Option<u32>, E> {
        match u32::try_from(id) {
            Ok(id) => Ok(Some(id)),
            Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(id), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, id: i64) -> Result<Option<u32>, E> {
        match u64::try_from(id) {
            Ok(id) => self.visit_u64(id),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(id), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<u32>, E> {
        match parse_unsigned(text) {
            Some(id) => self.visit_u64(id),
            None => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<u32>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<u32>, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_go_yaml_reads_them() {
        for (text, value) in [
            ("1000", 1000),
            ("+1000", 1000),
            ("1_000", 1000),
            ("1_0_0_0_", 1000),
            ("0x3e8", 1000),
            ("0o1750", 1000),
            ("01750", 1000),
            ("0_1750", 1000),
            ("0b1111101000", 1000),
            ("0X3E8", 1000),
            ("0O1750", 1000),
            ("0B1111101000", 1000),
            ("0", 0),
            ("00", 0),
        ] {
            assert_eq!(parse_unsigned(text), Some(value), "{text}");
        }
    }

    #[test]
    fn text_that_is_no_unsigned_integer_is_refused() {
        for text in
            ["", "_1000", "-1", "0x", "0o", "1e3", "10.0", "0o8", "019", "0b2", "1000a", "0x+1"]
        {
            assert_eq!(parse_unsigned(text), None, "{text}");
        }
        assert_eq!(parse_unsigned("18446744073709551616"), None, "past u64");
    }
}
