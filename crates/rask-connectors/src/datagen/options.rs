//! Datagen options (Flink's keys) and their validation into a generation plan per column.

use arrow::datatypes::{DataType, SchemaRef};
use rask_types::options::{OptionKind, OptionSpec, Options};

pub fn specs() -> Vec<OptionSpec> {
    let any = OptionKind::String;
    vec![
        OptionSpec::new("rows-per-second", OptionKind::Int { min: 1, max: i64::MAX }, "Rows generated per second, over all subtasks.").default("10000"),
        OptionSpec::new("number-of-rows", OptionKind::Int { min: 0, max: i64::MAX }, "Total rows to generate; unbounded when absent."),
        OptionSpec::new("scan.parallelism", OptionKind::Int { min: 1, max: 32768 }, "Source parallelism (accepted; the job's parallelism is used)."),
        OptionSpec::new("fields.#.kind", OptionKind::Enum(&["random", "sequence"]), "Generator of the field.").default("random"),
        OptionSpec::new("fields.#.min", any.clone(), "Minimum of a random number."),
        OptionSpec::new("fields.#.max", any.clone(), "Maximum of a random number."),
        OptionSpec::new("fields.#.max-past", OptionKind::Duration, "Maximum past of a random timestamp relative to now."),
        OptionSpec::new("fields.#.length", OptionKind::Int { min: 0, max: 1 << 20 }, "Length of a random string/bytes, or size of a collection.").default("100"),
        OptionSpec::new("fields.#.var-len", OptionKind::Bool, "Random strings of variable length up to 'length'.").default("false"),
        OptionSpec::new("fields.#.start", any.clone(), "Start of a sequence (inclusive)."),
        OptionSpec::new("fields.#.end", any, "End of a sequence (inclusive)."),
        OptionSpec::new("fields.#.null-rate", OptionKind::Float, "Fraction of NULLs, between 0 and 1.").default("0"),
    ]
}

#[derive(Debug, Clone)]
pub enum FieldGen {
    Sequence { start: i64, end: i64 },
    Random { min: Option<f64>, max: Option<f64>, length: usize, var_len: bool, max_past_ms: i64 },
}

#[derive(Debug, Clone)]
pub struct ColumnGen {
    /// Column name (for messages).
    #[allow(dead_code)]
    pub name: String,
    pub data_type: DataType,
    pub generator: FieldGen,
    pub null_rate: f64,
}

#[derive(Debug, Clone)]
pub struct DatagenPlan {
    pub rows_per_second: u64,
    pub number_of_rows: Option<u64>,
    pub columns: Vec<ColumnGen>,
}

impl DatagenPlan {
    pub fn is_bounded(&self) -> bool {
        self.number_of_rows.is_some() || self.columns.iter().any(|c| matches!(c.generator, FieldGen::Sequence { .. }))
    }

    pub fn from_options(opts: &Options, schema: &SchemaRef) -> Result<Self, String> {
        crate::validate_specs("connector 'datagen'", opts, &specs())?;
        // Every fields.<name>.* must name a column.
        for k in opts.raw().keys() {
            if let Some(rest) = k.strip_prefix("fields.") {
                let name = rest.rsplit_once('.').map(|(n, _)| n).unwrap_or(rest);
                if schema.index_of(name).is_err() {
                    let cols: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                    return Err(format!("option '{k}' refers to unknown column '{name}'; columns are: {}", cols.join(", ")));
                }
            }
        }
        let rows_per_second = opts.int("rows-per-second")?.unwrap_or(10000).max(1) as u64;
        let number_of_rows = opts.int("number-of-rows")?.map(|n| n.max(0) as u64);
        let mut columns = Vec::new();
        for f in schema.fields() {
            let key = |s: &str| format!("fields.{}.{s}", f.name());
            let kind = opts.string(&key("kind"), "random").to_ascii_lowercase();
            let null_rate = opts.float(&key("null-rate"))?.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&null_rate) {
                return Err(format!("option '{}' must be between 0 and 1", key("null-rate")));
            }
            check_type(f.name(), f.data_type(), &kind)?;
            let generator = if kind == "sequence" {
                let start = opts.get(&key("start")).ok_or_else(|| format!("option '{}' is required for a sequence field", key("start")))?;
                let end = opts.get(&key("end")).ok_or_else(|| format!("option '{}' is required for a sequence field", key("end")))?;
                let start: i64 = start.trim().parse().map_err(|_| format!("option '{}': expected a whole number, got '{start}'", key("start")))?;
                let end: i64 = end.trim().parse().map_err(|_| format!("option '{}': expected a whole number, got '{end}'", key("end")))?;
                if end < start {
                    return Err(format!("option '{}' ({end}) must not be less than '{}' ({start})", key("end"), key("start")));
                }
                for k in ["min", "max", "max-past"] {
                    if opts.get(&key(k)).is_some() {
                        return Err(format!("option '{}' does not apply to a sequence field", key(k)));
                    }
                }
                FieldGen::Sequence { start, end }
            } else {
                for k in ["start", "end"] {
                    if opts.get(&key(k)).is_some() {
                        return Err(format!("option '{}' only applies to fields.{}.kind = 'sequence'", key(k), f.name()));
                    }
                }
                let num = |k: &str| -> Result<Option<f64>, String> {
                    match opts.get(&key(k)) {
                        None => Ok(None),
                        Some(v) => v.trim().parse::<f64>().map(Some).map_err(|_| format!("option '{}': expected a number, got '{v}'", key(k))),
                    }
                };
                let (min, max) = (num("min")?, num("max")?);
                if let (Some(a), Some(b)) = (min, max)
                    && a > b {
                        return Err(format!("option '{}' ({a}) must not be greater than '{}' ({b})", key("min"), key("max")));
                    }
                FieldGen::Random {
                    min,
                    max,
                    length: opts.int(&key("length"))?.unwrap_or(100).max(0) as usize,
                    var_len: opts.bool(&key("var-len"), false)?,
                    max_past_ms: opts.duration(&key("max-past"))?.map(|d| d.as_millis() as i64).unwrap_or(0),
                }
            };
            columns.push(ColumnGen { name: f.name().clone(), data_type: f.data_type().clone(), generator, null_rate });
        }
        Ok(DatagenPlan { rows_per_second, number_of_rows, columns })
    }
}

fn check_type(name: &str, dt: &DataType, kind: &str) -> Result<(), String> {
    use DataType::*;
    let ok = match (kind, dt) {
        ("sequence", Int8 | Int16 | Int32 | Int64 | Float32 | Float64 | Decimal128(_, _) | Utf8) => true,
        ("sequence", _) => false,
        (_, Boolean | Int8 | Int16 | Int32 | Int64 | Float32 | Float64 | Decimal128(_, _) | Utf8 | Binary | Date32 | Time32(_) | Time64(_) | Timestamp(_, _)) => true,
        (_, List(f)) => !matches!(f.data_type(), List(_) | Map(_, _) | Struct(_)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("datagen cannot generate {kind} values of type {dt} (column '{name}')"))
    }
}
