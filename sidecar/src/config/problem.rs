//! Configuration problems: what is wrong, at which dotted key, on which line of the file.

use std::fmt;
use std::ops::Range;

/// How bad a configuration problem is: errors make the file unusable, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProblemSeverity {
    Error,
    Warning,
}

/// One problem found in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: ProblemSeverity,
    /// Dotted key, e.g. `probes.ping.timeout_ms`; empty for whole-file problems.
    pub key: String,
    /// Byte range in the file the problem points at.
    pub span: Range<usize>,
    /// 1-based line and column of `span.start`, filled in once the text is known.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(
        severity: ProblemSeverity,
        key: String,
        span: Range<usize>,
        message: String,
    ) -> Self {
        Problem {
            severity,
            key,
            span,
            line: 0,
            column: 0,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            ProblemSeverity::Error => "error",
            ProblemSeverity::Warning => "warning",
        };
        write!(f, "{}:{}: {level}: ", self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// The problems collected while reading one file.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub(crate) fn push(&mut self, problem: Problem) {
        self.list.push(problem);
    }

    pub(crate) fn error(&mut self, key: &str, span: Range<usize>, message: impl Into<String>) {
        self.push(Problem::new(
            ProblemSeverity::Error,
            key.to_string(),
            span,
            message.into(),
        ));
    }

    pub(crate) fn warning(&mut self, key: &str, span: Range<usize>, message: impl Into<String>) {
        self.push(Problem::new(
            ProblemSeverity::Warning,
            key.to_string(),
            span,
            message.into(),
        ));
    }

    pub fn has_errors(&self) -> bool {
        self.list
            .iter()
            .any(|p| p.severity == ProblemSeverity::Error)
    }

    /// Fills in line/column from the source text and sorts by position.
    pub(crate) fn finish(mut self, text: &str) -> Vec<Problem> {
        for p in &mut self.list {
            let (line, column) = line_column(text, p.span.start);
            p.line = line;
            p.column = column;
        }
        self.list
            .sort_by(|a, b| (a.line, a.column, &a.key).cmp(&(b.line, b.column, &b.key)));
        self.list.dedup();
        self.list
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}
