//! Hostnames: 1 to [`MAX_HOSTNAME_LEN`] ASCII letters, digits, `-` or `.`,
//! not starting or ending with `-` or `.`.

use crate::ValueError;
use crate::error::character;

/// The longest hostname, in bytes: the kernel's `HOST_NAME_MAX`.
pub const MAX_HOSTNAME_LEN: usize = 64;

/// What a hostname looks like, closing the message on a text that is none.
const EXPECTED: &str = "expected 1 to 64 ASCII letters, digits, `-` or `.`, \
                        not starting or ending with `-` or `.`, e.g. `box`";

/// Checks a hostname: 1 to [`MAX_HOSTNAME_LEN`] ASCII letters, digits,
/// `-` or `.`, not starting or ending with `-` or `.` (`box`,
/// `my-box.local`).
///
/// ```
/// use isolated_test_values::check_hostname;
///
/// assert_eq!(check_hostname("my-box.local"), Ok(()));
/// assert!(check_hostname("my_box").is_err());
/// assert!(check_hostname("box.").is_err());
/// ```
///
/// # Errors
/// The text is empty, has a character outside that set (the message names
/// it), is too long, or starts or ends with `-` or `.`.
pub fn check_hostname(text: &str) -> Result<(), ValueError> {
    let edge = |c: Option<char>| c.filter(|c| matches!(c, '-' | '.'));
    let what = if text.is_empty() {
        "it is empty".to_owned()
    } else if let Some(c) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))) {
        format!("{} is not allowed", character(c))
    } else if text.len() > MAX_HOSTNAME_LEN {
        format!("it has {} characters", text.len())
    } else if let Some(c) = edge(text.chars().next()) {
        format!("it starts with `{c}`")
    } else if let Some(c) = edge(text.chars().next_back()) {
        format!("it ends with `{c}`")
    } else {
        return Ok(());
    };
    Err(ValueError::new(text, format!("is not a hostname: {what}; {EXPECTED}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for good in ["box", "a", "A1", "1", "my-box.local", "a-b.c", "a--b..c", &"a".repeat(64)] {
            assert_eq!(check_hostname(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn refused() {
        let long = "a".repeat(65);
        for (text, problem) in [
            ("", "it is empty".to_owned()),
            ("-box", "it starts with `-`".to_owned()),
            (".box", "it starts with `.`".to_owned()),
            ("box-", "it ends with `-`".to_owned()),
            ("box.", "it ends with `.`".to_owned()),
            ("-", "it starts with `-`".to_owned()),
            ("b_x", "`_` is not allowed".to_owned()),
            ("a/b", "`/` is not allowed".to_owned()),
            ("b x", "a space is not allowed".to_owned()),
            ("not a hostname", "a space is not allowed".to_owned()),
            ("box\n", "`\\n` is not allowed".to_owned()),
            ("bÖx", "`Ö` is not allowed".to_owned()),
            (&long, "it has 65 characters".to_owned()),
        ] {
            assert_eq!(
                check_hostname(text).unwrap_err().to_string(),
                format!("`{}` is not a hostname: {problem}; {EXPECTED}", text.escape_debug()),
                "{text:?}"
            );
        }
    }
}
