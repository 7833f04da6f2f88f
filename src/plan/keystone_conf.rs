//! Reads the three settings the rotation rule needs from a `keystone.conf`, parsing it the
//! way oslo.config's `iniparser` does so that a file keystone rejects is rejected here too,
//! with the same line.
//!
//! oslo.config rules followed: lines are right-trimmed; a blank line ends a multi-line value;
//! a line starting with a space or tab continues the previous value (an error before any
//! key); `[name]` starts a section (an error without the closing `]` or with an empty name;
//! names are case-insensitive except `DEFAULT`); `#` and `;` start comments; otherwise the
//! line splits at the first `=` or `:` (an error when there is neither, or the key is empty);
//! a value wrapped in matching quotes loses them; an assignment before any section is an
//! error; the last assignment of a key wins. Integer options are `int()` of the trimmed
//! value, so `1h`, an empty value or a continued value are invalid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;

/// A parsed keystone.conf: the last value of each `(section, key)` and its line.
#[derive(Debug, Clone)]
pub struct KeystoneConf {
    path: PathBuf,
    values: BTreeMap<(String, String), (String, usize)>,
}

/// A setting read from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfValue {
    /// The integer value.
    pub value: u64,
    /// 1-based line of the assignment.
    pub line: usize,
}

fn section_name(raw: &str) -> String {
    // oslo.config `_normalize_group_name`.
    if raw == "DEFAULT" {
        raw.to_string()
    } else {
        raw.to_lowercase()
    }
}

/// The section a `[name]` line starts (normalized as oslo.config does); the message of the
/// error keystone gives when the `]` or the name is missing.
fn section_header(line: &str) -> std::result::Result<String, String> {
    if !line.ends_with(']') {
        return Err(format!("invalid section (must end with ]): {line:?}"));
    }
    if line.len() <= 2 {
        return Err(format!("empty section name: {line:?}"));
    }
    Ok(section_name(&line[1..line.len() - 1]))
}

/// The key and value of an assignment line (split at the first `=` or `:`, both trimmed,
/// matching quotes removed from the value); the message of the error keystone gives when
/// there is no separator or the key is empty.
fn assignment(line: &str) -> std::result::Result<(&str, &str), String> {
    let at = line
        .find(['=', ':'])
        .ok_or_else(|| format!("no ':' or '=' found in assignment {line:?}"))?;
    let key = line[..at].trim();
    if key.is_empty() {
        return Err(format!("key cannot be empty: {line:?}"));
    }
    let mut value = line[at + 1..].trim();
    if value.len() >= 2
        && (value.starts_with('"') || value.starts_with('\''))
        && value.ends_with(&value[..1])
    {
        value = &value[1..value.len() - 1];
    }
    Ok((key, value))
}

impl KeystoneConf {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = fsutil::read_small(path)?;
        let text = String::from_utf8(bytes).map_err(|e| Error::KeystoneConf {
            file: path.to_path_buf(),
            line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
            message: "is not valid UTF-8".into(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` (read from `path`, used in messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let err = |line: usize, message: String| Error::KeystoneConf {
            file: path.to_path_buf(),
            line,
            message,
        };
        let mut values = BTreeMap::new();
        let mut section: Option<String> = None;
        // The assignment being collected: key, value lines, line number.
        let mut pending: Option<(String, Vec<String>, usize)> = None;
        let mut flush = |pending: &mut Option<(String, Vec<String>, usize)>,
                         section: &Option<String>|
         -> Result<()> {
            if let Some((key, value, line)) = pending.take() {
                let Some(section) = section else {
                    return Err(err(
                        line,
                        "section must be started before assignment".into(),
                    ));
                };
                values.insert((section.clone(), key), (value.join("\n"), line));
            }
            Ok(())
        };
        for (index, raw) in text.lines().enumerate() {
            let lineno = index + 1;
            let line = raw.trim_end();
            if line.is_empty() {
                flush(&mut pending, &section)?;
                continue;
            }
            if line.starts_with([' ', '\t']) {
                match pending.as_mut() {
                    Some((_, value, _)) => value.push(line.trim_start().to_string()),
                    None => {
                        return Err(err(
                            lineno,
                            format!("unexpected continuation line {line:?}"),
                        ));
                    }
                }
                continue;
            }
            flush(&mut pending, &section)?;
            if line.starts_with('[') {
                section = Some(section_header(line).map_err(|m| err(lineno, m))?);
            } else if line.starts_with(['#', ';']) {
                continue;
            } else {
                let (key, value) = assignment(line).map_err(|m| err(lineno, m))?;
                pending = Some((key.to_string(), vec![value.to_string()], lineno));
            }
        }
        flush(&mut pending, &section)?;
        Ok(KeystoneConf {
            path: path.to_path_buf(),
            values,
        })
    }

    /// The file this came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An integer option (`IntOpt`) with keystone's lower bound, or `None` when unset.
    pub fn int(&self, section: &str, key: &str, min: u64) -> Result<Option<ConfValue>> {
        let Some((value, line)) = self.values.get(&(section_name(section), key.to_string())) else {
            return Ok(None);
        };
        let bad = |why: String| Error::KeystoneConf {
            file: self.path.clone(),
            line: *line,
            message: format!("[{section}] {key} = {value:?} {why}"),
        };
        let trimmed = value.trim();
        let parsed: i128 = trimmed
            .strip_prefix('+')
            .unwrap_or(trimmed)
            .parse()
            .map_err(|_| bad("is not an integer (keystone refuses to start with it)".into()))?;
        if parsed < i128::from(min) {
            return Err(bad(format!("is below keystone's minimum {min}")));
        }
        let value = u64::try_from(parsed).map_err(|_| bad("is too large".into()))?;
        Ok(Some(ConfValue { value, line: *line }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KeystoneConf> {
        KeystoneConf::parse(Path::new("keystone.conf"), text)
    }

    fn line_of(text: &str) -> usize {
        match parse(text) {
            Err(Error::KeystoneConf { line, .. }) => line,
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn reads_what_oslo_reads() {
        let conf = parse(
            "# comment\n[DEFAULT]\ndebug = true\n\n[TOKEN]\nexpiration = 7200\nexpiration: 1800\n\
             ; other comment\n[fernet_tokens]\nmax_active_keys = \" 7 \"\n",
        )
        .unwrap();
        assert_eq!(
            conf.int("token", "expiration", 0).unwrap(),
            Some(ConfValue {
                value: 1800,
                line: 7
            })
        );
        assert_eq!(
            conf.int("fernet_tokens", "max_active_keys", 1)
                .unwrap()
                .map(|v| v.value),
            Some(7)
        );
        assert_eq!(conf.int("token", "allow_expired_window", 0).unwrap(), None);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(line_of("[token]\nexpiration = 1\njunk\n"), 3);
        assert_eq!(line_of("[token\n"), 1);
        assert_eq!(line_of("[]\n"), 1);
        assert_eq!(line_of("expiration = 5\n"), 1);
        assert_eq!(line_of("  continued\n"), 1);
        assert_eq!(line_of("[token]\n= 5\n"), 2);
    }

    #[test]
    fn bad_values_name_the_line() {
        let conf = parse("[token]\nexpiration = 1h\nallow_expired_window =\n").unwrap();
        for key in ["expiration", "allow_expired_window"] {
            assert!(matches!(
                conf.int("token", key, 0),
                Err(Error::KeystoneConf { line, .. }) if line == if key == "expiration" { 2 } else { 3 }
            ));
        }
        let conf =
            parse("[token]\nexpiration = -5\n[fernet_tokens]\nmax_active_keys = 0\n").unwrap();
        assert!(conf.int("token", "expiration", 0).is_err());
        assert!(conf.int("fernet_tokens", "max_active_keys", 1).is_err());
        // A continued value is two lines: not an integer.
        let conf = parse("[token]\nexpiration = 77\n  88\n").unwrap();
        assert!(conf.int("token", "expiration", 0).is_err());
    }
}
