//! [`ValueError`]: a refused text, what is wrong with it and what is
//! expected instead.

use std::fmt;

/// A text that is not a value of the kind asked for.
///
/// Its message is the text as written (between backticks, control
/// characters escaped), then what is wrong and what is expected:
/// "`` `0s` is zero: a timeout must be greater than zero, e.g. `30s` ``".
/// It says nothing of where the text came from, so that the same message
/// serves a compile error on the attribute's literal, an environment
/// variable (`ISOLATED_TEST_TIMEOUT=` put in front) and a command-line flag.
///
/// ```
/// let error = isolated_test_values::parse_timeout("0s").unwrap_err();
/// assert_eq!(error.text(), "0s");
/// assert_eq!(error.to_string(), "`0s` is zero: a timeout must be greater than zero, e.g. `30s`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// The text as written.
    text: String,
    /// What is wrong and what is expected: the message after the text.
    problem: String,
}

impl ValueError {
    /// `text` is refused for `problem` (which follows the text in the
    /// message: "is not a ...: ...; expected ...").
    pub(crate) fn new(text: &str, problem: impl Into<String>) -> Self {
        Self { text: text.to_owned(), problem: problem.into() }
    }

    /// The refused text, as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.text.escape_debug(), self.problem)
    }
}

impl std::error::Error for ValueError {}

/// A character as a message names it: "a space", or the character between
/// backticks (escaped if it is a control character).
pub(crate) fn character(c: char) -> String {
    if c == ' ' { "a space".to_owned() } else { format!("`{}`", c.escape_debug()) }
}

/// What is wrong with the text of a number at first sight: it is empty,
/// has whitespace, or a sign; `None` if none of these.
pub(crate) fn misshapen(text: &str) -> Option<&'static str> {
    if text.is_empty() {
        Some("it is empty")
    } else if text.contains(char::is_whitespace) {
        Some("it contains whitespace")
    } else if text.starts_with('-') {
        Some("it is negative")
    } else if text.starts_with('+') {
        Some("it has a sign (write the number alone)")
    } else {
        None
    }
}

/// The first character of `text` that is no ASCII digit, named ("`x` is
/// not a digit"); `None` if all are digits.
pub(crate) fn non_digit(text: &str) -> Option<String> {
    text.chars().find(|c| !c.is_ascii_digit()).map(|c| format!("{} is not a digit", character(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_starts_with_the_text_escaped() {
        assert_eq!(ValueError::new("a\nb", "is wrong").to_string(), "`a\\nb` is wrong");
        assert_eq!(ValueError::new("a\nb", "is wrong").text(), "a\nb");
        assert_eq!(ValueError::new("", "is empty").to_string(), "`` is empty");
    }

    #[test]
    fn what_is_no_number() {
        assert_eq!(misshapen("123"), None);
        assert_eq!(misshapen("1x"), None);
        assert_eq!(misshapen(""), Some("it is empty"));
        assert_eq!(misshapen(" 1"), Some("it contains whitespace"));
        assert_eq!(misshapen("1\t"), Some("it contains whitespace"));
        assert_eq!(misshapen("-1"), Some("it is negative"));
        assert_eq!(misshapen("+1"), Some("it has a sign (write the number alone)"));
        assert_eq!(non_digit("123"), None);
        assert_eq!(non_digit("").as_deref(), None);
        assert_eq!(non_digit("1-1").as_deref(), Some("`-` is not a digit"));
        assert_eq!(non_digit("1e3").as_deref(), Some("`e` is not a digit"));
        assert_eq!(non_digit("1 3").as_deref(), Some("a space is not a digit"));
        assert_eq!(non_digit("1\u{7}").as_deref(), Some("`\\u{7}` is not a digit"));
    }
}
