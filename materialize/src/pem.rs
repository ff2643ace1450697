//! PEM text as people paste it into a blueprint: the one block it holds, without the
//! comments, blank lines or other text around it that PEM readers such as OpenSSL skip.

/// The first PEM block of `text`: from its `-----BEGIN` line to the end of its `-----END
/// …-----` line, or `None` when `text` has no complete block.
pub fn first_block(text: &str) -> Option<&str> {
    let begin = text.find("-----BEGIN ")?;
    let end_line = begin + text[begin..].find("-----END ")?;
    let label_end = end_line + "-----END ".len();
    let close = label_end + text[label_end..].find("-----")? + "-----".len();
    Some(&text[begin..close])
}

/// How many PEM blocks `text` begins.
pub fn block_count(text: &str) -> usize {
    text.matches("-----BEGIN ").count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_found_whatever_surrounds_it() {
        let block = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
        assert_eq!(first_block(block), Some(block));
        let padded = format!("# comment\n\n{block}\n\ntrailing words\n");
        assert_eq!(first_block(&padded), Some(block));
        assert_eq!(first_block("-----BEGIN X-----\nAAAA\n"), None, "no END line");
        assert_eq!(first_block("no pem"), None);
        assert_eq!(block_count(&format!("{block}\n{block}\n")), 2);
    }
}
