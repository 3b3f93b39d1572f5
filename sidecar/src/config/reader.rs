//! A forgiving reader over TOML's spanned tree: typed getters that record every problem (key, line) and keep going.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::problem::{Problem, ProblemSeverity, Problems};

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

    pub(crate) fn string(&mut self, problems: &mut Problems, key: &str) -> Option<Spanned<String>> {
        let path = self.key_path(key);
        let v = self.lookup(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Spanned::new(v.span(), s.to_string())),
            other => {
                problems.error(
                    &path,
                    v.span(),
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub(crate) fn required_string(
        &mut self,
        problems: &mut Problems,
        key: &str,
    ) -> Option<Spanned<String>> {
        let present = self.table.is_some_and(|t| t.contains_key(key));
        let value = self.string(problems, key);
        if !present {
            self.missing(problems, key);
        }
        value
    }

    pub(crate) fn bool(&mut self, problems: &mut Problems, key: &str) -> Option<bool> {
        let path = self.key_path(key);
        let v = self.lookup(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                problems.error(
                    &path,
                    v.span(),
                    format!("expected true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A non-negative integer that fits `max`.
    pub(crate) fn uint(
        &mut self,
        problems: &mut Problems,
        key: &str,
        max: u64,
    ) -> Option<Spanned<u64>> {
        let path = self.key_path(key);
        let v = self.lookup(key)?;
        match v.get_ref() {
            DeValue::Integer(i) => {
                let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
                match u64::from_str_radix(&digits, i.radix()) {
                    Ok(n) if n <= max => Some(Spanned::new(v.span(), n)),
                    _ => {
                        problems.error(
                            &path,
                            v.span(),
                            format!("expected an integer from 0 to {max}"),
                        );
                        None
                    }
                }
            }
            other => {
                problems.error(
                    &path,
                    v.span(),
                    format!("expected an integer, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// An array of non-negative integers each fitting `max`.
    pub(crate) fn uint_array(
        &mut self,
        problems: &mut Problems,
        key: &str,
        max: u64,
    ) -> Option<Spanned<Vec<u64>>> {
        let path = self.key_path(key);
        let v = self.lookup(key)?;
        let DeValue::Array(items) = v.get_ref() else {
            problems.error(
                &path,
                v.span(),
                format!(
                    "expected an array of integers, found {}",
                    v.get_ref().type_str()
                ),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items.iter() {
            let parsed = match item.get_ref() {
                DeValue::Integer(i) => {
                    let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
                    u64::from_str_radix(&digits, i.radix())
                        .ok()
                        .filter(|n| *n <= max)
                }
                _ => None,
            };
            match parsed {
                Some(n) => out.push(n),
                None => {
                    problems.error(
                        &path,
                        item.span(),
                        format!("expected an integer from 0 to {max}"),
                    );
                    ok = false;
                }
            }
        }
        ok.then(|| Spanned::new(v.span(), out))
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

    /// Reports every key of this table that no getter asked for (typos, misplaced keys).
    pub(crate) fn finish(self, problems: &mut Problems) {
        let Some(table) = self.table else { return };
        for (key, value) in table.iter() {
            let name = key.get_ref();
            if !self.seen.iter().any(|s| s == name.as_ref()) {
                let path = if self.path.is_empty() {
                    name.to_string()
                } else {
                    format!("{}.{}", self.path, name)
                };
                let hint = if matches!(value.get_ref(), DeValue::Table(_)) {
                    "unknown section"
                } else {
                    "unknown key"
                };
                problems.error(&path, key.span(), hint.to_string());
            }
        }
    }
}
