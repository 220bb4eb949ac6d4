//! Words of a case file's line: shell-like splitting with quotes, and
//! `$NAME` / `${NAME}` expansion.

use regex::Regex;

/// Splits a line into words with minimal shell-like quoting.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => current.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Expands `$NAME` and `${NAME}` using `lookup`; unknown names are returned
/// in the error list and left in place.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    static VAR: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
            .expect("variable regex is valid")
    });
    let mut unknown = Vec::new();
    let out = VAR.replace_all(text, |caps: &regex::Captures<'_>| {
        let name = caps
            .get(1)
            .or_else(|| caps.get(2))
            .expect("one of the alternatives matched")
            .as_str();
        lookup(name).unwrap_or_else(|| {
            unknown.push(name.to_string());
            caps[0].to_string()
        })
    });
    (out.into_owned(), unknown)
}
