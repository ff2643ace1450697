//! Sizes in bytes as every size flag takes them (`--max-size`, `--chunk-size`, the
//! `--max-*-size` limits), so that a value one flag takes the others take too.

/// What a size flag takes, for its error.
const EXPECTED: &str =
    "expected bytes, or a number with K, M, G or T (powers of 1024), such as 512M or 1.5G";

/// A size: whole bytes, or a whole or decimal number then K, M, G or T for powers of 1024
/// (`Ki`, `KiB`, `KB`, `k` and the like read the same), such as `4096`, `64K` or `1.5G`. A
/// fraction of a byte left by a decimal with a multiple is dropped.
///
/// # Errors
/// What was expected, or that the size is past what 64 bits hold.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let end = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let unit = unit.to_ascii_uppercase();
    let shift = match unit.strip_suffix('B').unwrap_or(&unit) {
        "" => 0,
        "K" | "KI" => 10,
        "M" | "MI" => 20,
        "G" | "GI" => 30,
        "T" | "TI" => 40,
        _ => return Err(EXPECTED.to_string()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(EXPECTED.to_string());
    }
    if shift == 0 && number.contains('.') {
        return Err(format!("{EXPECTED}: a number of bytes is whole"));
    }

    let too_large = || "too large: sizes go up to 16 EiB".to_string();
    // Whole digits past u128 are far past u64 too; fraction digits past the 20th are
    // worth less than a byte even times 2^40, and are dropped.
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let fraction = &fraction[..fraction.len().min(20)];
    let scale = 10u128.pow(u32::try_from(fraction.len()).unwrap_or(20));
    let fraction: u128 = fraction.parse().unwrap_or(0);
    let bytes = whole
        .checked_mul(1 << shift)
        .and_then(|b| b.checked_add((fraction << shift) / scale))
        .ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

/// [`parse_size`] of at least one byte.
///
/// # Errors
/// As [`parse_size`], or for a size of no bytes.
pub(crate) fn parse_nonzero_size(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err("expected at least 1 byte".to_string()),
        bytes => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bytes_or_binary_multiples_whole_or_decimal() {
        let parse = |t| parse_size(t).ok();
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("1500"), Some(1500));
        assert_eq!(parse("2K"), Some(2048));
        assert_eq!(parse("3MiB"), Some(3 << 20));
        assert_eq!(parse("1gb"), Some(1 << 30));
        assert_eq!(parse("16m"), Some(16 << 20));
        assert_eq!(parse("1Gi"), Some(1 << 30));
        assert_eq!(parse("1kB"), Some(1024));
        assert_eq!(parse("7B"), Some(7));
        assert_eq!(parse("1.5G"), Some(3 << 29));
        assert_eq!(parse("0.5K"), Some(512));
        assert_eq!(parse("2.0T"), Some(2 << 40));
        // A fraction of a byte is dropped, however many digits it has.
        assert_eq!(parse("1.0009K"), Some(1024));
        assert_eq!(
            parse_size("1.5").unwrap_err(),
            format!("{EXPECTED}: a number of bytes is whole")
        );
        assert_eq!(parse("1.0B"), None);
        assert_eq!(parse("0.999999999999999999999999999999T"), Some((1 << 40) - 1));
        assert_eq!(parse("16777215.99999999999999T"), Some(u64::MAX));

        for refused in
            ["", "M", ".5G", "1.", "1..5G", "1.5.0G", "-1", "+1", " 1", "1 G", "1X", "1iB", "1I"]
        {
            let error = parse_size(refused).unwrap_err();
            assert!(error.starts_with("expected bytes"), "{refused:?}: {error}");
        }
        // Whole bytes over 64 bits, with a multiple or without.
        for refused in
            ["18446744073709551616", "16777216T", "99999999999999999999T", &"9".repeat(50)]
        {
            let error = parse_size(refused).unwrap_err();
            assert!(error.starts_with("too large"), "{refused:?}: {error}");
        }
    }

    #[test]
    fn a_nonzero_size_refuses_nothing_at_all() {
        assert_eq!(parse_nonzero_size("1"), Ok(1));
        assert_eq!(parse_nonzero_size("0").unwrap_err(), "expected at least 1 byte");
        assert_eq!(parse_nonzero_size("0.0001K").unwrap_err(), "expected at least 1 byte");
    }
}
