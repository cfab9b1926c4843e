//! Window table functions (`TUMBLE`, `HOP`, `CUMULATE`) as a logical plan node: the input's
//! columns plus `window_start`, `window_end` (TIMESTAMP(3)) and `window_time` (the time
//! attribute's type, = window_end − 1 ms), one output row per window a row belongs to.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion_common::{DFSchema, DFSchemaRef, Result as DfResult};
use datafusion_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
pub use rask_functions::zone::WindowClock;

/// A day-time INTERVAL literal's value in milliseconds (`None` for other values, including
/// year-month intervals).
pub fn interval_millis(v: &datafusion_common::ScalarValue) -> Option<i64> {
    use datafusion_common::ScalarValue;
    match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => Some(i.days as i64 * 86_400_000 + i.nanoseconds / 1_000_000),
        ScalarValue::IntervalDayTime(Some(i)) => Some(i.days as i64 * 86_400_000 + i.milliseconds as i64),
        _ => None,
    }
}

/// Field metadata key marking a time attribute column (`rowtime` or `proctime`).
pub const TIME_ATTRIBUTE: &str = "rask.time_attribute";

/// `field` marked as a time attribute of `kind` (`rowtime` / `proctime`), or unmarked (`None`).
pub fn with_time_attribute(field: &Field, kind: Option<&str>) -> Field {
    let mut m = field.metadata().clone();
    match kind {
        Some(k) => m.insert(TIME_ATTRIBUTE.to_string(), k.to_string()),
        None => m.remove(TIME_ATTRIBUTE),
    };
    field.clone().with_metadata(m)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum WindowKind {
    Tumble,
    Hop,
    Cumulate,
    /// Session windows (`size` = the gap): merging windows, computed by the session
    /// aggregation, never sliced.
    Session,
}

/// Window shape in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub struct WindowSpec {
    pub kind: WindowKind,
    pub size: i64,
    /// HOP slide or CUMULATE step; equals `size` for TUMBLE.
    pub step: i64,
    pub offset: i64,
    /// The clock the bounds are in: the session time zone for a `TIMESTAMP_LTZ` or
    /// `PROCTIME()` attribute, UTC otherwise (see [`WindowClock`]).
    pub clock: WindowClock,
}

impl WindowSpec {
    /// The width of the slices windows are built from: a tumbling window is one slice, a
    /// hopping window `size / slide` slices of `slide`, a cumulating window's windows share
    /// its `step`-wide slices.
    pub fn slice(&self) -> i64 {
        match self.kind {
            WindowKind::Tumble | WindowKind::Session => self.size,
            WindowKind::Hop | WindowKind::Cumulate => self.step,
        }
    }

    /// The `window_time` of the window ending at `end`: the instant of its last millisecond
    /// (`end` − 1 ms on the window's clock).
    pub fn window_time(&self, end: i64) -> i64 {
        self.clock.instant(end - 1)
    }

    /// The start of the window ending at `end`.
    pub fn window_start(&self, end: i64) -> i64 {
        match self.kind {
            WindowKind::Tumble | WindowKind::Hop | WindowKind::Session => end - self.size,
            WindowKind::Cumulate => (end - 1) - (end - 1 - self.offset).rem_euclid(self.size),
        }
    }

    /// The ends of the windows that contain the slice ending at `slice_end`, ascending.
    pub fn window_ends(&self, slice_end: i64) -> impl Iterator<Item = i64> + use<> {
        let last = self.last_window_end(slice_end);
        let step = self.slice();
        (0..).map(move |i| slice_end + i * step).take_while(move |e| *e <= last)
    }

    /// The end of the last window that contains the slice ending at `slice_end`: once it has
    /// fired, the slice is no longer needed and rows for it are late.
    pub fn last_window_end(&self, slice_end: i64) -> i64 {
        match self.kind {
            WindowKind::Tumble | WindowKind::Session => slice_end,
            WindowKind::Hop => slice_end + self.size - self.step,
            WindowKind::Cumulate => self.window_start(slice_end) + self.size,
        }
    }

    /// The windows containing `ts` (ms), as `(start, end)`, in ascending start (then end) order.
    pub fn assign(&self, ts: i64, out: &mut Vec<(i64, i64)>) {
        out.clear();
        let floor = |t: i64, unit: i64| t - (t - self.offset).rem_euclid(unit);
        match self.kind {
            WindowKind::Tumble | WindowKind::Session => {
                let s = floor(ts, self.size);
                out.push((s, s + self.size));
            }
            WindowKind::Hop => {
                let last = floor(ts, self.step);
                let mut s = last - self.size + self.step;
                while s <= last {
                    if s + self.size > ts {
                        out.push((s, s + self.size));
                    }
                    s += self.step;
                }
            }
            WindowKind::Cumulate => {
                let s = floor(ts, self.size);
                let mut e = floor(ts, self.step) + self.step;
                while e <= s + self.size {
                    out.push((s, e));
                    e += self.step;
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowTvf {
    pub input: LogicalPlan,
    pub time_col: usize,
    pub spec: WindowSpec,
    /// SESSION's `PARTITION BY` columns (input column indices).
    pub partition: Vec<usize>,
    pub schema: DFSchemaRef,
}

impl PartialOrd for WindowTvf {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.time_col, self.spec).partial_cmp(&(other.time_col, other.spec))
    }
}

impl WindowTvf {
    pub fn try_new(input: LogicalPlan, time_col: usize, spec: WindowSpec) -> DfResult<Self> {
        let in_schema = input.schema();
        let time_field = in_schema.field(time_col);
        let mut fields: Vec<(Option<datafusion_common::TableReference>, Arc<Field>)> =
            in_schema.iter().map(|(q, f)| (q.cloned(), f.clone())).collect();
        // Columns of the input keep their values but are no longer time attributes (Flink).
        for (_, f) in fields.iter_mut() {
            if f.metadata().contains_key(TIME_ATTRIBUTE) {
                *f = Arc::new(with_time_attribute(f, None));
            }
        }
        let ts3 = DataType::Timestamp(TimeUnit::Millisecond, None);
        let wt_type = match time_field.data_type() {
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
            other => other.clone(),
        };
        fields.push((None, Arc::new(Field::new("window_start", ts3.clone(), false))));
        fields.push((None, Arc::new(Field::new("window_end", ts3, false))));
        let wt = with_time_attribute(&Field::new("window_time", wt_type, false), Some("rowtime"));
        fields.push((None, Arc::new(wt)));
        let schema = Arc::new(DFSchema::new_with_metadata(fields, in_schema.metadata().clone())?);
        Ok(WindowTvf { input, time_col, spec, partition: Vec::new(), schema })
    }
}

impl UserDefinedLogicalNodeCore for WindowTvf {
    fn name(&self) -> &str {
        "WindowTableFunction"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", describe(&self.spec, self.input.schema().field(self.time_col).name()))
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.swap_remove(0);
        // The input may have lost columns the query does not use (projection pruning): find the
        // time and partition columns again by name.
        let old = self.input.schema();
        let find = |i: usize| -> DfResult<usize> {
            let (q, f) = old.qualified_field(i);
            input.schema().index_of_column(&datafusion_common::Column::new(q.cloned(), f.name()))
        };
        let time_col = find(self.time_col)?;
        let partition = self.partition.iter().map(|&p| find(p)).collect::<DfResult<_>>()?;
        let mut w = WindowTvf::try_new(input, time_col, self.spec)?;
        w.partition = partition;
        Ok(w)
    }
    /// The input columns the output needs: those passed through, the time and partition columns.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let n = self.input.schema().fields().len();
        let mut need: Vec<usize> = output_columns.iter().copied().filter(|&i| i < n).collect();
        need.push(self.time_col);
        need.extend(&self.partition);
        need.sort_unstable();
        need.dedup();
        Some(vec![need])
    }
}

fn dur(ms: i64) -> String {
    if ms % 3_600_000 == 0 {
        format!("{} h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{} min", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// Flink-style description: `WindowTableFunction(window=[TUMBLE(time_col=[ts], size=[5 s])])`.
pub fn describe(spec: &WindowSpec, time_col: &str) -> String {
    format!("WindowTableFunction(window=[{}])", describe_window(spec, time_col))
}

/// The window part of a description: `TUMBLE(time_col=[ts], size=[5 s])`.
pub fn describe_window(spec: &WindowSpec, time_col: &str) -> String {
    let off = if spec.offset != 0 { format!(", offset=[{}]", dur(spec.offset)) } else { String::new() };
    let w = match spec.kind {
        WindowKind::Tumble => format!("TUMBLE(time_col=[{time_col}], size=[{}]{off})", dur(spec.size)),
        WindowKind::Hop => format!("HOP(time_col=[{time_col}], size=[{}], slide=[{}]{off})", dur(spec.size), dur(spec.step)),
        WindowKind::Cumulate => format!("CUMULATE(time_col=[{time_col}], max_size=[{}], step=[{}]{off})", dur(spec.size), dur(spec.step)),
        WindowKind::Session => format!("SESSION(time_col=[{time_col}], gap=[{}])", dur(spec.size)),
    };
    w
}

/// A duration the way Flink's plans print it (`5 s`, `1 min`).
pub fn describe_duration(ms: i64) -> String {
    dur(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(kind: WindowKind, size: i64, step: i64, offset: i64, ts: i64) -> Vec<(i64, i64)> {
        let mut v = Vec::new();
        WindowSpec { kind, size, step, offset, clock: WindowClock::Utc }.assign(ts, &mut v);
        v
    }

    #[test]
    fn assigns_like_flink() {
        assert_eq!(w(WindowKind::Tumble, 5000, 5000, 0, 4999), vec![(0, 5000)]);
        assert_eq!(w(WindowKind::Tumble, 5000, 5000, 0, 5000), vec![(5000, 10000)]);
        assert_eq!(w(WindowKind::Tumble, 10000, 10000, 3000, 1000), vec![(-7000, 3000)]);
        assert_eq!(w(WindowKind::Tumble, 5000, 5000, 0, -1), vec![(-5000, 0)]);
        assert_eq!(w(WindowKind::Hop, 6000, 2000, 0, 3000), vec![(-2000, 4000), (0, 6000), (2000, 8000)]);
        assert_eq!(w(WindowKind::Cumulate, 6000, 2000, 0, 1000), vec![(0, 2000), (0, 4000), (0, 6000)]);
        assert_eq!(w(WindowKind::Cumulate, 6000, 2000, 0, 12500), vec![(12000, 14000), (12000, 16000), (12000, 18000)]);
        assert_eq!(w(WindowKind::Cumulate, 6000, 2000, 0, 5000), vec![(0, 6000)]);
    }
}
