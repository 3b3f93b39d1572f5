//! The one reader of the configuration file: typed getters over TOML's spanned tree that record every problem (key, line) and keep going.
//!
//! Every section of the file is read through a [`Section`]: scalars with [`Section::get`] /
//! [`Section::required`] (any [`FromToml`] type), fixed sets of words with [`Section::choice`],
//! sub-tables with [`Section::table`] (any [`FromSection`] type). Each getter marks its key as
//! known, so [`Section::finish`] reports every key nobody asked for. A reader never stops at
//! the first mistake: it records the problem and reads on, so `astha check-config` lists them all.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::problem::{Problem, ProblemSeverity, Problems};
use crate::side::Side;

/// Why a value could not be taken: the message, and where when it is a part of the value (one
/// item of an array) rather than the whole.
pub(crate) type ValueError = (String, Option<Range<usize>>);

/// A value type the reader can take from one TOML value. The error is the message reported at
/// the value (or, with a span, at a part of it such as one item of an array).
pub(crate) trait FromToml: Sized {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError>;
}

/// A configuration type read from a whole table (`[section]`, `key = { ... }` or `[[array]]`).
///
/// `read` consumes the keys it knows and records every problem; it returns `None` when a
/// required part is missing or wrong. The caller reports unknown keys ([`Section::finish`]).
pub(crate) trait FromSection: Sized {
    fn read(section: &mut Section<'_, '_>, problems: &mut Problems) -> Option<Self>;
}

fn expected<T>(what: &str, found: &DeValue<'_>) -> Result<T, ValueError> {
    Err((format!("expected {what}, found {}", found.type_str()), None))
}

impl FromToml for bool {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            other => expected("true or false", other),
        }
    }
}

impl FromToml for String {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            other => expected("a string", other),
        }
    }
}

impl FromToml for PathBuf {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        String::from_toml(value).map(PathBuf::from)
    }
}

/// A non-negative integer of at most `max`.
fn integer(value: &DeValue<'_>, max: u64) -> Result<u64, ValueError> {
    match value {
        DeValue::Integer(i) => {
            let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
            u64::from_str_radix(&digits, i.radix())
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    let range = if max == u64::MAX {
                        "a non-negative integer".to_string()
                    } else {
                        format!("an integer from 0 to {max}")
                    };
                    (format!("expected {range}"), None)
                })
        }
        other => expected("an integer", other),
    }
}

macro_rules! unsigned_from_toml {
    ($($t:ty),*) => {$(
        impl FromToml for $t {
            fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
                integer(value.get_ref(), <$t>::MAX as u64).map(|n| n as $t)
            }
        }
    )*};
}
unsigned_from_toml!(u8, u16, u32, u64);

/// A value written as a string and parsed with `FromStr`; the parse error is the message
/// (the types using this name the bad value in their errors themselves).
pub(crate) fn parse_string<T>(value: &Spanned<DeValue<'_>>, what: &str) -> Result<T, ValueError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match value.get_ref() {
        DeValue::String(s) => s.parse::<T>().map_err(|e| (e.to_string(), None)),
        other => expected(what, other),
    }
}

impl FromToml for Side {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        parse_string(value, "\"a\" or \"b\"")
    }
}

/// Addresses: std's parse errors do not name the value, so the message does.
macro_rules! address_from_toml {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl FromToml for $t {
            fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
                match value.get_ref() {
                    DeValue::String(s) => s
                        .parse::<$t>()
                        .map_err(|e| (format!("`{s}`: {e}; expected {}", $what), None)),
                    other => expected($what, other),
                }
            }
        }
    )*};
}
address_from_toml!(
    SocketAddr => "an address with port, e.g. \"192.0.2.10:7390\"",
    IpAddr => "an IP address, e.g. \"192.0.2.1\"",
);

impl<T: FromToml> FromToml for Vec<T> {
    fn from_toml(value: &Spanned<DeValue<'_>>) -> Result<Self, ValueError> {
        let DeValue::Array(items) = value.get_ref() else {
            return expected("an array", value.get_ref());
        };
        items
            .iter()
            .map(|item| T::from_toml(item).map_err(|(m, span)| (m, span.or(Some(item.span())))))
            .collect()
    }
}

/// One TOML table being read, with the keys already consumed (so unknown keys can be reported).
#[derive(Debug)]
pub(crate) struct Section<'t, 'i> {
    path: String,
    table: Option<&'t DeTable<'i>>,
    span: Range<usize>,
    seen: Vec<String>,
}

impl<'t, 'i> Section<'t, 'i> {
    pub(crate) fn root(table: &'t Spanned<DeTable<'i>>) -> Self {
        Section {
            path: String::new(),
            table: Some(table.get_ref()),
            span: table.span(),
            seen: Vec::new(),
        }
    }

    /// Whether the table exists in the file at all.
    pub(crate) fn present(&self) -> bool {
        self.table.is_some()
    }

    /// Whether `key` is in this table (without reading it).
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.table.is_some_and(|t| t.contains_key(key))
    }

    /// The dotted key of `key` inside this section.
    pub(crate) fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The value of `key` as `T`, or `None` when it is absent (or wrong: then a problem is recorded).
    pub(crate) fn get<T: FromToml>(&mut self, problems: &mut Problems, key: &str) -> Option<T> {
        self.spanned(problems, key, T::from_toml)
            .map(Spanned::into_inner)
    }

    /// The value of `key`, or `default` when it is absent or wrong (a wrong one is a problem).
    pub(crate) fn get_or<T: FromToml>(
        &mut self,
        problems: &mut Problems,
        key: &str,
        default: T,
    ) -> T {
        self.get(problems, key).unwrap_or(default)
    }

    /// Like [`Section::get`], but an absent key is a problem too.
    pub(crate) fn required<T: FromToml>(
        &mut self,
        problems: &mut Problems,
        key: &str,
    ) -> Option<T> {
        let present = self.contains(key);
        let value = self.get(problems, key);
        if !present {
            self.missing(problems, key);
        }
        value
    }

    /// One of a fixed set of words, e.g. `mode = "warm"`; anything else is a problem naming them.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        problems: &mut Problems,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let word: String = self.get(problems, key)?;
        match options.iter().find(|(name, _)| *name == word) {
            Some((_, value)) => Some(*value),
            None => {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                self.problem_at(
                    problems,
                    ProblemSeverity::Error,
                    key,
                    format!("unknown value \"{word}\": expected {}", names.join(", ")),
                );
                None
            }
        }
    }

    /// Like [`Section::choice`], but an absent key is a problem too.
    pub(crate) fn required_choice<T: Copy>(
        &mut self,
        problems: &mut Problems,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let present = self.contains(key);
        let value = self.choice(problems, key, options);
        if !present {
            self.missing(problems, key);
        }
        value
    }

    /// The sub-table `key` read as `T` (its unknown keys reported); `None` when absent or wrong.
    pub(crate) fn table<T: FromSection>(
        &mut self,
        problems: &mut Problems,
        key: &str,
    ) -> Option<T> {
        let mut section = self.section(problems, key);
        if !section.present() {
            return None;
        }
        let value = T::read(&mut section, problems);
        section.finish(problems);
        value
    }

    /// Like [`Section::table`], but an absent table is a problem too.
    pub(crate) fn required_table<T: FromSection>(
        &mut self,
        problems: &mut Problems,
        key: &str,
    ) -> Option<T> {
        let present = self.contains(key);
        let value = self.table(problems, key);
        if !present {
            self.missing(problems, key);
        }
        value
    }

    /// An array of tables (`[[key]]` or `key = [{ ... }, ...]`), each read as `T`; `None` when
    /// absent or when any item is wrong. Items are named `key[0]`, `key[1]`, ... in problems.
    pub(crate) fn tables<T: FromSection>(
        &mut self,
        problems: &mut Problems,
        key: &str,
    ) -> Option<Vec<T>> {
        self.tables_with(problems, key, T::read)
    }

    /// Like [`Section::tables`], each item read by `read` (for items that need more than the
    /// table, such as the directory secret files are relative to).
    pub(crate) fn tables_with<T>(
        &mut self,
        problems: &mut Problems,
        key: &str,
        mut read: impl FnMut(&mut Section<'_, '_>, &mut Problems) -> Option<T>,
    ) -> Option<Vec<T>> {
        let path = self.key_path(key);
        let value = self.lookup(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            problems.error(
                &path,
                value.span(),
                format!(
                    "expected an array of tables, found {}",
                    value.get_ref().type_str()
                ),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let DeValue::Table(t) = item.get_ref() else {
                problems.error(
                    &item_path,
                    item.span(),
                    format!("expected a table, found {}", item.get_ref().type_str()),
                );
                ok = false;
                continue;
            };
            let mut section = Section {
                path: item_path,
                table: Some(t),
                span: item.span(),
                seen: Vec::new(),
            };
            match read(&mut section, problems) {
                Some(v) => out.push(v),
                None => ok = false,
            }
            section.finish(problems);
        }
        ok.then_some(out)
    }

    fn lookup(&mut self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.seen.push(key.to_string());
        self.table?.get(key)
    }

    /// A sub-table. A missing one reads as empty (every getter then yields its default); a value
    /// of another type is a problem.
    pub(crate) fn section(&mut self, problems: &mut Problems, key: &str) -> Section<'t, 'i> {
        let path = self.key_path(key);
        let parent_span = self.span.clone();
        match self.lookup(key) {
            None => Section {
                path,
                table: None,
                span: parent_span,
                seen: Vec::new(),
            },
            Some(v) => match v.get_ref() {
                DeValue::Table(t) => Section {
                    path,
                    table: Some(t),
                    span: v.span(),
                    seen: Vec::new(),
                },
                other => {
                    problems.error(
                        &path,
                        v.span(),
                        format!("expected a table, found {}", other.type_str()),
                    );
                    Section {
                        path,
                        table: None,
                        span: v.span(),
                        seen: Vec::new(),
                    }
                }
            },
        }
    }

    /// A string, with where it is in the file.
    pub(crate) fn string(&mut self, problems: &mut Problems, key: &str) -> Option<Spanned<String>> {
        self.spanned(problems, key, String::from_toml)
    }

    pub(crate) fn required_string(
        &mut self,
        problems: &mut Problems,
        key: &str,
    ) -> Option<Spanned<String>> {
        let present = self.contains(key);
        let value = self.string(problems, key);
        if !present {
            self.missing(problems, key);
        }
        value
    }

    /// A non-negative integer that fits `max`.
    pub(crate) fn uint(
        &mut self,
        problems: &mut Problems,
        key: &str,
        max: u64,
    ) -> Option<Spanned<u64>> {
        self.spanned(problems, key, |v| integer(v.get_ref(), max))
    }

    /// An array of non-negative integers each fitting `max` (every bad item is reported).
    pub(crate) fn uint_array(
        &mut self,
        problems: &mut Problems,
        key: &str,
        max: u64,
    ) -> Option<Spanned<Vec<u64>>> {
        let path = self.key_path(key);
        let value = self.lookup(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            let (message, _) = expected::<()>("an array of integers", value.get_ref()).err()?;
            problems.error(&path, value.span(), message);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match integer(item.get_ref(), max) {
                Ok(n) => out.push(n),
                Err((message, _)) => problems.error(&path, item.span(), message),
            }
        }
        (out.len() == items.len()).then(|| Spanned::new(value.span(), out))
    }

    /// `key` converted by `convert`, with the value's span; a failed conversion is a problem.
    fn spanned<T>(
        &mut self,
        problems: &mut Problems,
        key: &str,
        convert: impl Fn(&Spanned<DeValue<'_>>) -> Result<T, ValueError>,
    ) -> Option<Spanned<T>> {
        let path = self.key_path(key);
        let value = self.lookup(key)?;
        match convert(value) {
            Ok(v) => Some(Spanned::new(value.span(), v)),
            Err((message, span)) => {
                problems.error(&path, span.unwrap_or_else(|| value.span()), message);
                None
            }
        }
    }

    /// Records a problem about `key` located at its value (or at the table when absent).
    pub(crate) fn problem_at(
        &self,
        problems: &mut Problems,
        severity: ProblemSeverity,
        key: &str,
        message: impl Into<String>,
    ) {
        let span = self
            .table
            .and_then(|t| t.get(key))
            .map(|v| v.span())
            .unwrap_or_else(|| self.span.clone());
        problems.push(Problem::new(
            severity,
            self.key_path(key),
            span,
            message.into(),
        ));
    }

    /// Reports that this whole (required) table is absent.
    pub(crate) fn missing_self(&self, problems: &mut Problems) {
        problems.error(
            &self.path,
            self.span.clone(),
            format!("required section [{}] is missing", self.path),
        );
    }

    pub(crate) fn missing(&self, problems: &mut Problems, key: &str) {
        let where_ = if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in [{}]", self.path)
        };
        problems.error(
            &self.key_path(key),
            self.span.clone(),
            format!("required key is missing {where_}"),
        );
    }

    /// Reports every key of this table that no getter asked for (typos, misplaced keys), with
    /// the known key it most likely meant.
    pub(crate) fn finish(self, problems: &mut Problems) {
        let Some(table) = self.table else { return };
        for (key, value) in table.iter() {
            let name = key.get_ref();
            if self.seen.iter().any(|s| s == name.as_ref()) {
                continue;
            }
            let path = if self.path.is_empty() {
                name.to_string()
            } else {
                format!("{}.{}", self.path, name)
            };
            let what = if matches!(value.get_ref(), DeValue::Table(_)) {
                "unknown section"
            } else {
                "unknown key"
            };
            let message = match closest(name, &self.seen) {
                Some(known) => format!("{what} (did you mean `{known}`?)"),
                None => what.to_string(),
            };
            problems.error(&path, key.span(), message);
        }
    }
}

/// Reads a whole TOML text as one `T` (the way a section's reader sees its table), for tests
/// of a single section: the value, or every problem.
#[cfg(test)]
pub(crate) fn read_text<T: FromSection>(text: &str) -> Result<T, Vec<Problem>> {
    let mut problems = Problems::default();
    let (doc, syntax_errors) = DeTable::parse_recoverable(text);
    for e in syntax_errors {
        problems.error("", e.span().unwrap_or(0..0), e.message().trim().to_string());
    }
    let mut root = Section::root(&doc);
    let value = T::read(&mut root, &mut problems);
    root.finish(&mut problems);
    let failed = problems.has_errors();
    let list = problems.finish(text);
    match value {
        Some(v) if !failed => Ok(v),
        _ => Err(list),
    }
}

/// The known key within two edits of `typo`, if exactly one is that close.
fn closest<'k>(typo: &str, known: &'k [String]) -> Option<&'k str> {
    let mut near = known
        .iter()
        .filter(|k| k.len() > 2 && edit_distance(typo, k) <= 2);
    let first = near.next()?;
    near.all(|k| k == first).then_some(first.as_str())
}

/// Levenshtein distance (insertions, deletions, substitutions), by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_key() {
        assert_eq!(edit_distance("intervall_ms", "interval_ms"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let known = ["interval_ms".to_string(), "timeout_ms".to_string()];
        assert_eq!(closest("intervall_ms", &known), Some("interval_ms"));
        assert_eq!(closest("colour", &known), None);
    }
}
