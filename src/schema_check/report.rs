//! What a check found, printed for people (text), for programs (json) or as
//! GitHub Actions annotations on the lines concerned (github).

use std::fmt::Write as _;

use serde::Serialize;

use super::diff::{Change, Severity};
use super::graph::Location;
use super::lint::Warning;
use super::operations::OperationError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Github,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub passed: bool,
    /// The schema checked: composed from the code, or a file.
    pub new: String,
    /// What it is compared with.
    pub base: Option<String>,
    pub composition_errors: Vec<String>,
    /// Committed files that the code no longer produces.
    pub stale_files: Vec<String>,
    pub changes: Vec<AssessedChange>,
    pub operations_checked: usize,
    pub operation_errors: Vec<OperationError>,
    /// The window of recorded traffic consulted, in days, when one was.
    pub usage_days: Option<u32>,
    pub warnings: Vec<Warning>,
}

/// A change with what it means for the clients we know of.
#[derive(Debug, Serialize)]
pub struct AssessedChange {
    #[serde(flatten)]
    pub change: Change,
    /// Known operations that use what changed.
    pub operations: Vec<OperationUse>,
    /// Recorded requests that used it, over the usage window.
    pub requests: Option<u64>,
    /// Whether it fails the check.
    pub blocking: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct OperationUse {
    pub name: String,
    pub location: Location,
}

impl Report {
    pub fn print(&self, format: Format) {
        let text = match format {
            Format::Text => self.text(),
            Format::Json => serde_json::to_string_pretty(self).expect("a report serializes") + "\n",
            Format::Github => self.github(),
        };
        print!("{text}");
    }

    fn verdict(&self) -> String {
        let blocking = self.changes.iter().filter(|c| c.blocking).count();
        let mut reasons = Vec::new();
        if !self.composition_errors.is_empty() {
            reasons.push("composition fails".to_string());
        }
        if !self.stale_files.is_empty() {
            reasons.push(format!("{} stale file(s)", self.stale_files.len()));
        }
        if blocking > 0 {
            reasons.push(format!("{blocking} breaking change(s) that clients use"));
        }
        if !self.operation_errors.is_empty() {
            let operations: std::collections::BTreeSet<&str> = self.operation_errors.iter().map(|e| e.operation.as_str()).collect();
            reasons.push(format!("{} operation(s) no longer valid", operations.len()));
        }
        if reasons.is_empty() { "PASS".to_string() } else { format!("FAIL: {}", reasons.join(", ")) }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Schema check of {}", self.new);
        if let Some(base) = &self.base {
            let _ = writeln!(out, "against {base}");
        }
        if !self.composition_errors.is_empty() {
            let _ = writeln!(out, "\nComposition fails ({}):", self.composition_errors.len());
            for error in &self.composition_errors {
                let _ = writeln!(out, "  {error}");
            }
        }
        for stale in &self.stale_files {
            let _ = writeln!(out, "\nSTALE {stale}");
        }
        for (severity, title) in [(Severity::Breaking, "Breaking changes"), (Severity::Dangerous, "Dangerous changes"), (Severity::Safe, "Safe changes")] {
            let changes: Vec<&AssessedChange> = self.changes.iter().filter(|c| c.change.severity == severity).collect();
            if changes.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title} ({}):", changes.len());
            for assessed in changes {
                let change = &assessed.change;
                let _ = writeln!(out, "  {} {}: {}", change.kind, change.coordinate, change.message);
                let subgraphs = (!change.subgraphs.is_empty()).then(|| format!("from {}", change.subgraphs.join(", ")));
                let origin: Vec<String> = subgraphs.into_iter().chain(change.location.as_ref().map(|l| format!("at {}", located(l)))).collect();
                if !origin.is_empty() {
                    let _ = writeln!(out, "      {}", origin.join(" "));
                }
                if severity == Severity::Breaking {
                    let _ = writeln!(out, "      {}", consequence(assessed));
                }
            }
        }
        let _ = writeln!(out, "\nOperations: {} checked, {} problem(s)", self.operations_checked, self.operation_errors.len());
        for error in &self.operation_errors {
            let _ = writeln!(out, "  {} ({}): {}", error.operation, located(&error.location), error.message);
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "\nLint warnings ({}; silence one in schema-lint.yaml):", self.warnings.len());
            for warning in &self.warnings {
                let at = warning.location.as_ref().map(|l| format!(" ({})", located(l))).unwrap_or_default();
                let _ = writeln!(out, "  [{}] {}{at}", warning.rule, warning.message);
            }
        }
        let _ = writeln!(out, "\n{}", self.verdict());
        out
    }

    fn github(&self) -> String {
        let mut out = String::new();
        for error in &self.composition_errors {
            let _ = writeln!(out, "::error title=Composition fails::{}", escape(error));
        }
        for stale in &self.stale_files {
            let _ = writeln!(out, "::error title=Stale file::{}", escape(stale));
        }
        for assessed in &self.changes {
            let change = &assessed.change;
            let level = match (change.severity, assessed.blocking) {
                (_, true) => "error",
                (Severity::Breaking | Severity::Dangerous, false) => "warning",
                (Severity::Safe, false) => "notice",
            };
            let title = format!("{:?} change ({})", change.severity, change.kind);
            let mut message = format!("{}: {}", change.coordinate, change.message);
            if change.severity == Severity::Breaking {
                message = format!("{message}. {}", consequence(assessed));
            }
            let _ = writeln!(out, "{}", annotation(level, change.location.as_ref(), &title, &message));
        }
        for error in &self.operation_errors {
            let title = format!("Operation {} no longer valid", error.operation);
            let _ = writeln!(out, "{}", annotation("error", Some(&error.location), &title, &error.message));
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "{}", annotation("warning", warning.location.as_ref(), &format!("Lint: {}", warning.rule), &warning.message));
        }
        let _ = writeln!(out, "Schema check: {}", self.verdict());
        out
    }
}

fn located(location: &Location) -> String {
    format!("{}:{}", location.file, location.line)
}

/// What a breaking change means for the clients we know of.
fn consequence(assessed: &AssessedChange) -> String {
    let mut said = Vec::new();
    if !assessed.operations.is_empty() {
        let operations: Vec<String> = assessed.operations.iter().map(|o| format!("{} ({})", o.name, located(&o.location))).collect();
        said.push(format!("used by {}", operations.join(", ")));
    }
    if let Some(requests) = assessed.requests.filter(|n| *n > 0) {
        said.push(format!("seen in {requests} recorded request(s)"));
    }
    match (said.is_empty(), assessed.blocking) {
        (true, true) => "fails the check (--strict)".to_string(),
        (true, false) => "no known operation or recorded request uses it; passes (fails with --strict)".to_string(),
        (false, _) => said.join("; "),
    }
}

fn annotation(level: &str, location: Option<&Location>, title: &str, message: &str) -> String {
    let place = location.map(|l| format!("file={},line={},", property(&l.file), l.line)).unwrap_or_default();
    format!("::{level} {place}title={}::{}", property(title), escape(message))
}

/// GitHub's escaping of an annotation's message.
fn escape(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// GitHub's escaping of an annotation's property value.
fn property(text: &str) -> String {
    escape(text).replace(':', "%3A").replace(',', "%2C")
}
