//! `print`: writes every row to standard output (or error) as Flink's print connector does:
//! `+I[1, abc]`, prefixed by `identifier:subtask> ` when there is an identifier or more than
//! one subtask. Rask's `print-format` = `json` writes `{"kind":"+I","values":["1","abc"]}`
//! lines instead (values as printed, NULL as null), which the server's SELECT preview reads.

use std::io::Write;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use rask_sql::catalog::{ConnectorCaps, TableDef};
use rask_runtime::connector::{Connector, PrintTarget, SinkContext, SinkWriter, SourceContext, SourceReader};
use rask_runtime::error::{Result, RuntimeError};
use rask_types::options::{OptionKind, OptionSpec, Options};
use rask_types::value_fmt::format_row;
use rask_types::StreamBatch;

pub struct Print;

fn specs() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("print-identifier", OptionKind::String, "Message prefixed to every output line."),
        OptionSpec::new("standard-error", OptionKind::Bool, "Print to standard error instead of standard output.").default("false"),
        OptionSpec::new("print-format", OptionKind::Enum(&["flink", "json"]), "Rask: 'flink' prints +I[…] lines; 'json' one JSON object per row with its kind and values.").default("flink"),
        OptionSpec::new("sink.parallelism", OptionKind::Int { min: 1, max: 32768 }, "Parallelism of the sink (accepted; the job's parallelism is used)."),
    ]
}

/// The line prefix Flink's `PrintSinkOutputWriter` uses.
pub fn prefix(identifier: &str, subtask: usize, parallelism: usize) -> String {
    match (identifier.is_empty(), parallelism > 1) {
        (true, false) => String::new(),
        (true, true) => format!("{}> ", subtask + 1),
        (false, false) => format!("{identifier}> "),
        (false, true) => format!("{identifier}:{}> ", subtask + 1),
    }
}

struct PrintWriter {
    prefix: String,
    json: bool,
    stderr: bool,
    target: Arc<dyn PrintTarget>,
}

impl SinkWriter for PrintWriter {
    fn write(&mut self, batch: &StreamBatch) -> Result<()> {
        let lines: Vec<String> = if self.json {
            (0..batch.num_rows()).map(|i| json_row(batch, i)).collect()
        } else {
            (0..batch.num_rows()).map(|i| format!("{}{}", self.prefix, format_row(batch, i))).collect()
        };
        if self.stderr {
            let mut e = std::io::stderr().lock();
            for l in &lines {
                let _ = writeln!(e, "{l}");
            }
        } else {
            self.target.print_lines(&lines);
        }
        Ok(())
    }
    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
}

/// `{"kind":"+I","values":[…]}`: each value as the print connector renders it, NULL as null.
fn json_row(batch: &StreamBatch, row: usize) -> String {
    let values: Vec<serde_json::Value> = batch
        .data
        .columns()
        .iter()
        .map(|c| {
            if c.is_null(row) {
                serde_json::Value::Null
            } else {
                let mut s = String::new();
                rask_types::value_fmt::write_value(&mut s, c, row);
                serde_json::Value::String(s)
            }
        })
        .collect();
    serde_json::json!({ "kind": batch.kind(row).short(), "values": values }).to_string()
}

impl Connector for Print {
    fn roles(&self) -> rask_runtime::connector::Roles {
        rask_runtime::connector::Roles { source: false, sink: true, lookup: false }
    }
    fn name(&self) -> &'static str {
        "print"
    }
    fn description(&self) -> &'static str {
        "Sink that prints every row to standard output, as +I[...] / -U[...] / +U[...] / -D[...]."
    }
    fn option_specs(&self, _options: &Options) -> Vec<OptionSpec> {
        specs()
    }
    fn validate(&self, options: &Options, _schema: &SchemaRef, _primary_key: &[String]) -> std::result::Result<ConnectorCaps, String> {
        crate::validate_specs("connector 'print'", options, &specs())?;
        Ok(ConnectorCaps { source: false, sink: true, accepts_updates: true, ..Default::default() })
    }
    fn create_source(&self, _table: &TableDef, _ctx: &SourceContext) -> Result<Box<dyn SourceReader>> {
        Err(RuntimeError::User("the print connector can only be used as a sink".into()))
    }
    fn create_sink(&self, table: &TableDef, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>> {
        let id = table.options.string("print-identifier", "");
        Ok(Box::new(PrintWriter {
            prefix: prefix(&id, ctx.subtask, ctx.parallelism),
            json: table.options.string("print-format", "flink").eq_ignore_ascii_case("json"),
            stderr: table.options.bool("standard-error", false).map_err(RuntimeError::User)?,
            target: ctx.print.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefixes_like_flink() {
        assert_eq!(super::prefix("", 0, 1), "");
        assert_eq!(super::prefix("", 1, 2), "2> ");
        assert_eq!(super::prefix("Q", 0, 1), "Q> ");
        assert_eq!(super::prefix("Q", 0, 4), "Q:1> ");
    }
}
