//! Flink's built-in scalar functions, with Flink's names and semantics, as DataFusion UDFs.
//!
//! The SQL planner registers `datafusion_functions::all_default_functions()` first and then
//! [`flink_scalar_functions`], whose entries replace same-named DataFusion functions. Only
//! functions that DataFusion lacks or implements differently are here; e.g. UPPER, LOWER, TRIM,
//! REPLACE, REPEAT, REVERSE, CHAR_LENGTH, INSTR, ASCII, UUID, LN, LOG2, LOG10, PI, EXP, SQRT,
//! ABS, FLOOR/CEIL stay DataFusion's (same results as Flink). `CAST(x AS STRING)` is
//! [`cast_to_string`], which the planner substitutes for casts to STRING/VARCHAR.

mod cast;
mod conditional;
mod datetime;
mod json;
mod math;
pub mod python;
mod string;
mod util;
pub mod zone;

use std::sync::Arc;

use datafusion_expr::ScalarUDF;

pub use cast::to_string_array;
pub use math::hash_code;

/// Flink functions that DataFusion lacks or implements with different semantics. Names are
/// lower-case (DataFusion lower-cases unquoted identifiers).
pub fn flink_scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut v = string::functions();
    v.extend(datetime::functions());
    v.extend(math::functions());
    v.extend(conditional::functions());
    v.extend(json::functions());
    v
}

/// CAST(x AS STRING) with Flink's rendering (the planner rewrites casts to STRING/VARCHAR into this).
pub fn cast_to_string() -> Arc<ScalarUDF> {
    cast::udf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_lower_case() {
        let fns = flink_scalar_functions();
        let mut seen = HashSet::new();
        for f in &fns {
            assert_eq!(f.name(), f.name().to_lowercase());
            assert!(seen.insert(f.name().to_string()), "duplicate {}", f.name());
        }
        for n in ["concat", "regexp_extract", "date_format", "to_timestamp", "round", "if", "json_value", "substr"] {
            assert!(seen.contains(n), "missing {n}");
        }
        assert_eq!(cast_to_string().name(), "cast_to_string");
    }
}
