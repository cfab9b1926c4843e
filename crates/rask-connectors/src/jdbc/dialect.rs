//! The SQL text the jdbc connector sends, per dialect: quoted identifiers, the scan's SELECT
//! (with a BETWEEN range per partition), multi-row INSERT, upsert (PostgreSQL `ON CONFLICT …
//! DO UPDATE`, MySQL `ON DUPLICATE KEY UPDATE`) and DELETE by key.

use super::options::Dialect;

/// Quote one identifier: PostgreSQL `"name"`, MySQL backticks (the quote doubled inside).
pub fn quote(dialect: Dialect, ident: &str) -> String {
    let q = match dialect {
        Dialect::Postgres => '"',
        Dialect::MySql => '`',
    };
    let mut s = String::with_capacity(ident.len() + 2);
    s.push(q);
    for c in ident.chars() {
        if c == q {
            s.push(q);
        }
        s.push(c);
    }
    s.push(q);
    s
}

/// A possibly qualified table name (`schema.table`, `db.table`): each part quoted, parts the
/// user quoted already kept as written.
pub fn quote_table(dialect: Dialect, name: &str) -> String {
    let q = if dialect == Dialect::Postgres { '"' } else { '`' };
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    for c in name.trim().chars() {
        if in_quotes {
            in_quotes = c != q;
            cur.push(c);
        } else if c == '.' {
            parts.push(std::mem::take(&mut cur));
        } else {
            in_quotes = c == q && cur.is_empty();
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
        .iter()
        .map(|p| if p.starts_with(q) && p.ends_with(q) && p.len() >= 2 { p.clone() } else { quote(dialect, p) })
        .collect::<Vec<_>>()
        .join(".")
}

/// The statements of one table.
#[derive(Debug, Clone)]
pub struct Statements {
    pub dialect: Dialect,
    table: String,
    columns: Vec<String>,
    /// Positions of the primary key columns (empty: append mode).
    key: Vec<usize>,
}

impl Statements {
    pub fn new(dialect: Dialect, table: &str, columns: &[String], key: Vec<usize>) -> Self {
        Statements { dialect, table: quote_table(dialect, table), columns: columns.iter().map(|c| quote(dialect, c)).collect(), key }
    }

    fn placeholders(&self, first: usize, n: usize, out: &mut String) {
        out.push('(');
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            match self.dialect {
                Dialect::Postgres => {
                    out.push('$');
                    out.push_str(&(first + i + 1).to_string());
                }
                Dialect::MySql => out.push('?'),
            }
        }
        out.push(')');
    }

    /// `SELECT cols FROM table [WHERE col BETWEEN ? AND ?]`.
    pub fn select(&self, partition_column: Option<&str>) -> String {
        let mut s = format!("SELECT {} FROM {}", self.columns.join(", "), self.table);
        if let Some(c) = partition_column {
            let (a, b) = if self.dialect == Dialect::Postgres { ("$1", "$2") } else { ("?", "?") };
            s.push_str(&format!(" WHERE {} BETWEEN {a} AND {b}", quote(self.dialect, c)));
        }
        s
    }

    /// `INSERT INTO table (cols) VALUES (…), … ` for `rows` rows.
    pub fn insert(&self, rows: usize) -> String {
        let n = self.columns.len();
        let mut s = format!("INSERT INTO {} ({}) VALUES ", self.table, self.columns.join(", "));
        for r in 0..rows {
            if r > 0 {
                s.push_str(", ");
            }
            self.placeholders(r * n, n, &mut s);
        }
        s
    }

    /// The insert, replacing the row of an existing key.
    pub fn upsert(&self, rows: usize) -> String {
        let mut s = self.insert(rows);
        let non_key: Vec<&String> = self.columns.iter().enumerate().filter(|(i, _)| !self.key.contains(i)).map(|(_, c)| c).collect();
        match self.dialect {
            Dialect::Postgres => {
                let keys: Vec<&str> = self.key.iter().map(|i| self.columns[*i].as_str()).collect();
                s.push_str(&format!(" ON CONFLICT ({}) DO ", keys.join(", ")));
                if non_key.is_empty() {
                    s.push_str("NOTHING");
                } else {
                    s.push_str("UPDATE SET ");
                    s.push_str(&non_key.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect::<Vec<_>>().join(", "));
                }
            }
            Dialect::MySql => {
                // Flink's MySQL dialect: every column, so a key-only table still parses.
                let cols: Vec<&String> = if non_key.is_empty() { self.columns.iter().collect() } else { non_key };
                s.push_str(" ON DUPLICATE KEY UPDATE ");
                s.push_str(&cols.iter().map(|c| format!("{c} = VALUES({c})")).collect::<Vec<_>>().join(", "));
            }
        }
        s
    }

    /// `DELETE FROM table WHERE key IN (…)` for `rows` keys (parameters: the key columns).
    pub fn delete(&self, rows: usize) -> String {
        let mut s = format!("DELETE FROM {} WHERE ", self.table);
        self.key_in(&self.key, rows, &mut s);
        s
    }

    /// `k IN ($1, …)` or `(k1, k2) IN (($1, $2), …)` for `rows` keys of the columns at `keys`.
    fn key_in(&self, keys: &[usize], rows: usize, s: &mut String) {
        let k = keys.len();
        let names: Vec<&str> = keys.iter().map(|i| self.columns[*i].as_str()).collect();
        if k == 1 {
            s.push_str(names[0]);
            s.push_str(" IN ");
            self.placeholders(0, rows, s);
        } else {
            s.push_str(&format!("({}) IN (", names.join(", ")));
            for r in 0..rows {
                if r > 0 {
                    s.push_str(", ");
                }
                self.placeholders(r * k, k, s);
            }
            s.push(')');
        }
    }

    /// `SELECT cols FROM table WHERE k IN (…)` (or `(k1, k2) IN ((…), …)`) for `rows` keys of
    /// the columns at `keys` (parameters: the key values, row by row).
    pub fn lookup(&self, keys: &[usize], rows: usize) -> String {
        let mut s = format!("SELECT {} FROM {} WHERE ", self.columns.join(", "), self.table);
        self.key_in(keys, rows, &mut s);
        s
    }

    /// Rows per statement so that a statement stays within the protocols' 65535 parameters.
    pub fn rows_per_statement(&self, params_per_row: usize) -> usize {
        (65_535 / params_per_row.max(1)).clamp(1, 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn postgres_statements() {
        let s = Statements::new(Dialect::Postgres, "public.Orders", &cols(&["id", "na\"me", "w"]), vec![0]);
        assert_eq!(s.select(None), r#"SELECT "id", "na""me", "w" FROM "public"."Orders""#);
        assert_eq!(s.select(Some("id")), r#"SELECT "id", "na""me", "w" FROM "public"."Orders" WHERE "id" BETWEEN $1 AND $2"#);
        assert_eq!(s.insert(2), r#"INSERT INTO "public"."Orders" ("id", "na""me", "w") VALUES ($1, $2, $3), ($4, $5, $6)"#);
        assert_eq!(
            s.upsert(1),
            r#"INSERT INTO "public"."Orders" ("id", "na""me", "w") VALUES ($1, $2, $3) ON CONFLICT ("id") DO UPDATE SET "na""me" = EXCLUDED."na""me", "w" = EXCLUDED."w""#
        );
        assert_eq!(s.delete(3), r#"DELETE FROM "public"."Orders" WHERE "id" IN ($1, $2, $3)"#);
        assert_eq!(s.lookup(&[0], 2), r#"SELECT "id", "na""me", "w" FROM "public"."Orders" WHERE "id" IN ($1, $2)"#);
        assert_eq!(s.lookup(&[0, 2], 2), r#"SELECT "id", "na""me", "w" FROM "public"."Orders" WHERE ("id", "w") IN (($1, $2), ($3, $4))"#);
        let k = Statements::new(Dialect::Postgres, r#""My.T""#, &cols(&["a", "b"]), vec![0, 1]);
        assert_eq!(k.upsert(1), r#"INSERT INTO "My.T" ("a", "b") VALUES ($1, $2) ON CONFLICT ("a", "b") DO NOTHING"#);
        assert_eq!(k.delete(2), r#"DELETE FROM "My.T" WHERE ("a", "b") IN (($1, $2), ($3, $4))"#);
    }

    #[test]
    fn mysql_statements() {
        let s = Statements::new(Dialect::MySql, "test.t`x", &cols(&["id", "v"]), vec![0]);
        assert_eq!(s.insert(2), "INSERT INTO `test`.`t``x` (`id`, `v`) VALUES (?, ?), (?, ?)");
        assert_eq!(s.upsert(1), "INSERT INTO `test`.`t``x` (`id`, `v`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `v` = VALUES(`v`)");
        assert_eq!(s.delete(2), "DELETE FROM `test`.`t``x` WHERE `id` IN (?, ?)");
        assert_eq!(s.select(Some("id")), "SELECT `id`, `v` FROM `test`.`t``x` WHERE `id` BETWEEN ? AND ?");
    }
}
