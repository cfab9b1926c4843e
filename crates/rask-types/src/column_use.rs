//! Which columns of a source, and which fields of its ROW columns, a job reads (Flink's
//! projection push-down, nested fields included). The planner computes it from the operators
//! above a source; a format may then skip decoding what is never read (it reads as NULL).

use arrow::datatypes::{DataType, Fields};

/// How much of one column (or ROW field) is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnUse {
    /// Nothing reads it.
    Unused,
    /// Read as a whole value.
    Whole,
    /// A ROW column of which only some fields are read: one entry per field (its NULL-ness is
    /// read too).
    Fields(Vec<ColumnUse>),
}

impl ColumnUse {
    /// Whether anything of it is read.
    pub fn is_used(&self) -> bool {
        !matches!(self, ColumnUse::Unused)
    }

    /// Add what `other` reads.
    pub fn merge(&mut self, other: &ColumnUse) {
        match (&mut *self, other) {
            (_, ColumnUse::Unused) | (ColumnUse::Whole, _) => {}
            (ColumnUse::Unused, o) => *self = o.clone(),
            (_, ColumnUse::Whole) => *self = ColumnUse::Whole,
            (ColumnUse::Fields(a), ColumnUse::Fields(b)) => {
                if a.len() == b.len() {
                    for (x, y) in a.iter_mut().zip(b) {
                        x.merge(y);
                    }
                } else {
                    *self = ColumnUse::Whole;
                }
            }
        }
        if matches!(self, ColumnUse::Fields(_)) {
            *self = std::mem::replace(self, ColumnUse::Unused).normalised();
        }
    }

    /// Read field `path` (names, outermost first) of a column of type `dt` with `leaf` use;
    /// a path that is not a chain of ROW fields reads the whole column.
    pub fn of_path(dt: &DataType, path: &[&str], leaf: &ColumnUse) -> ColumnUse {
        let Some((first, rest)) = path.split_first() else { return leaf.clone() };
        let DataType::Struct(fields) = dt else { return ColumnUse::Whole };
        let Some(i) = field_index(fields, first) else { return ColumnUse::Whole };
        let mut out = vec![ColumnUse::Unused; fields.len()];
        out[i] = ColumnUse::of_path(fields[i].data_type(), rest, leaf);
        ColumnUse::Fields(out).normalised()
    }

    /// `Fields` reading every field whole is `Whole`; reading none, `Unused`.
    fn normalised(self) -> ColumnUse {
        match &self {
            ColumnUse::Fields(f) if f.iter().all(|u| *u == ColumnUse::Whole) => ColumnUse::Whole,
            ColumnUse::Fields(f) if f.iter().all(|u| !u.is_used()) => ColumnUse::Unused,
            _ => self,
        }
    }

}

/// The field of a ROW named `name` (Flink field names are case-sensitive).
fn field_index(fields: &Fields, name: &str) -> Option<usize> {
    fields.iter().position(|f| f.name() == name)
}

#[cfg(test)]
mod tests {
    use super::ColumnUse::{self, *};
    use arrow::datatypes::{DataType, Field, Fields};

    fn row() -> DataType {
        let inner = DataType::Struct(Fields::from(vec![Field::new("x", DataType::Int64, true), Field::new("y", DataType::Utf8, true)]));
        DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int64, true), Field::new("r", inner, true)]))
    }

    #[test]
    fn paths_and_merges() {
        let dt = row();
        let rx = ColumnUse::of_path(&dt, &["r", "x"], &Whole);
        assert_eq!(rx, Fields(vec![Unused, Fields(vec![Whole, Unused])]));
        let mut u = rx.clone();
        u.merge(&ColumnUse::of_path(&dt, &["r", "y"], &Whole));
        assert_eq!(u, Fields(vec![Unused, Whole]), "both fields of r: r whole");
        u.merge(&ColumnUse::of_path(&dt, &["a"], &Whole));
        assert_eq!(u, Whole);
        assert_eq!(ColumnUse::of_path(&dt, &["nope"], &Whole), Whole, "an unknown field reads the whole column");
        assert_eq!(ColumnUse::of_path(&DataType::Int64, &["a"], &Whole), Whole);
        assert_eq!(ColumnUse::of_path(&dt, &["a"], &Unused), Unused);
        let mut v = Unused;
        v.merge(&rx);
        assert_eq!(v, rx);
        v.merge(&Unused);
        assert_eq!(v, rx);
    }
}
