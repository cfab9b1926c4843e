//! Fault classification and source positions shared by all crates' error enums.
//!
//! Every library crate has its own `thiserror` enum; each variant knows whose fault it is so
//! that the CLI and server can say "your SQL is wrong" apart from "Kafka is down" apart from
//! "Rask has a bug".

use std::fmt;

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bad SQL, options, records or requests from the user: fix the input.
    User,
    /// An external system (file system, broker, database) failed: retry may help.
    External,
    /// A bug in Rask.
    Internal,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::User => "user error",
            Fault::External => "external error",
            Fault::Internal => "internal error",
        })
    }
}

/// A 1-based line:column position in SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    pub fn new(line: u64, column: u64) -> Self {
        Pos { line, column }
    }
    /// True when the position is unknown (sqlparser reports 0:0 for synthetic nodes).
    pub fn is_unknown(&self) -> bool {
        self.line == 0
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}
