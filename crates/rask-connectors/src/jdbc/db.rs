//! One database connection (PostgreSQL through `tokio-postgres`, MySQL/MariaDB through
//! `mysql_async`), driven by its own current-thread tokio runtime since readers and writers are
//! synchronous: connecting within a timeout, running statements in one transaction, and
//! streaming a query's rows into Arrow column builders. Errors say whether retrying can help
//! (a lost connection, a deadlock) or not (the data or the schema).
//!
//! Parameters are sent to PostgreSQL in its text format, so the server converts them to the
//! column's type as it would a literal (an INT value into a BIGINT or NUMERIC column, a
//! TIMESTAMP into a `timestamptz` one, …) and a value that does not fit fails with the
//! server's message. Results are read in the binary format. Sessions run in UTC (PostgreSQL
//! `TimeZone`, MySQL `time_zone`), Rask's only local time zone.

use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use mysql_async::prelude::Queryable;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};

use super::options::{Dialect, Endpoint};
use super::values::{days_of, Cell, ColumnBuilder, Param};

/// Whether a failed operation may succeed when retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The connection is gone or could not be made: reconnect and retry.
    Connection,
    /// A deadlock, a serialization failure, a lock timeout: retry on the same connection.
    Transient,
    /// The data or the schema (a constraint, a type, a missing table): retrying cannot help.
    Data,
}

#[derive(Debug, Clone)]
pub struct DbError {
    pub kind: ErrorKind,
    pub message: String,
}

impl DbError {
    fn data(message: impl Into<String>) -> Self {
        DbError { kind: ErrorKind::Data, message: message.into() }
    }
}

fn pg_error(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = match &code[..2.min(code.len())] {
            // connection exception, operator intervention (shutdown, cannot connect now)
            "08" | "57" if code != "57014" => ErrorKind::Connection,
            // transaction rollback (serialization failure, deadlock), insufficient resources
            "40" | "53" | "57" => ErrorKind::Transient,
            _ => ErrorKind::Data,
        };
        let mut message = format!("{}: {} (SQLSTATE {code})", db.severity(), db.message());
        if let Some(d) = db.detail() {
            message.push_str("; ");
            message.push_str(d);
        }
        if let Some(h) = db.hint() {
            message.push_str("; hint: ");
            message.push_str(h);
        }
        return DbError { kind, message };
    }
    DbError { kind: ErrorKind::Connection, message: e.to_string() }
}

fn mysql_error(e: mysql_async::Error) -> DbError {
    match e {
        mysql_async::Error::Server(s) => {
            let kind = match s.code {
                // lock wait timeout, deadlock
                1205 | 1213 => ErrorKind::Transient,
                // too many connections, server shutdown, gone away, lost
                1040 | 1053 | 2006 | 2013 => ErrorKind::Connection,
                _ if s.state.starts_with("08") => ErrorKind::Connection,
                _ => ErrorKind::Data,
            };
            DbError { kind, message: format!("ERROR {} ({}): {}", s.code, s.state, s.message) }
        }
        mysql_async::Error::Url(u) => DbError::data(u.to_string()),
        other => DbError { kind: ErrorKind::Connection, message: other.to_string() },
    }
}

/// A parameter sent in PostgreSQL's text format (the server parses it as the column's type).
#[derive(Debug)]
struct PgParam<'a>(&'a Param<'a>);

impl ToSql for PgParam<'_> {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mut v = Vec::new();
        if self.0.pg_text(&mut v) {
            out.extend_from_slice(&v);
            Ok(IsNull::No)
        } else {
            Ok(IsNull::Yes)
        }
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_sql(ty, out)
    }
    fn encode_format(&self, _ty: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }
}

/// A result value in PostgreSQL's binary format, whatever its type.
struct PgRaw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for PgRaw<'a> {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgRaw(Some(raw)))
    }
    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgRaw(None))
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    raw.try_into().map_err(|_| format!("expected {N} bytes, got {}", raw.len()))
}

/// PostgreSQL's binary NUMERIC as decimal text.
fn pg_numeric(raw: &[u8]) -> Result<String, String> {
    use std::fmt::Write;
    if raw.len() < 8 {
        return Err("truncated numeric".into());
    }
    let word = |i: usize| i16::from_be_bytes([raw[2 * i], raw[2 * i + 1]]);
    let (ndigits, weight, sign, dscale) = (word(0) as usize, word(1) as i32, word(2) as u16, word(3) as u16 as usize);
    if raw.len() < 8 + 2 * ndigits {
        return Err("truncated numeric".into());
    }
    match sign {
        0xC000 => return Err("NaN".into()),
        0xD000 => return Err("Infinity".into()),
        0xF000 => return Err("-Infinity".into()),
        _ => {}
    }
    let digit = |p: i32| if p >= 0 && (p as usize) < ndigits { word(4 + p as usize) } else { 0 };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for p in 0..=weight {
            let _ = if p == 0 { write!(s, "{}", digit(p)) } else { write!(s, "{:04}", digit(p)) };
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut p = weight + 1;
        while frac.len() < dscale {
            let _ = write!(frac, "{:04}", digit(p));
            p += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    Ok(s)
}

/// One PostgreSQL result value (binary format) as a [`Cell`].
fn pg_cell<'a>(ty: &Type, raw: Option<&'a [u8]>) -> Result<Cell<'a>, String> {
    let Some(raw) = raw else { return Ok(Cell::Null) };
    let ty = match ty.kind() {
        Kind::Domain(base) => base,
        _ => ty,
    };
    Ok(match *ty {
        Type::BOOL => Cell::Bool(raw.first().is_some_and(|b| *b != 0)),
        Type::CHAR => Cell::Int(*raw.first().unwrap_or(&0) as i8 as i64),
        Type::INT2 => Cell::Int(i16::from_be_bytes(be(raw)?) as i64),
        Type::INT4 => Cell::Int(i32::from_be_bytes(be(raw)?) as i64),
        Type::INT8 => Cell::Int(i64::from_be_bytes(be(raw)?)),
        Type::OID => Cell::UInt(u32::from_be_bytes(be(raw)?) as u64),
        Type::FLOAT4 => Cell::F32(f32::from_be_bytes(be(raw)?)),
        Type::FLOAT8 => Cell::F64(f64::from_be_bytes(be(raw)?)),
        Type::NUMERIC => Cell::Text(pg_numeric(raw).map_err(|e| format!("numeric {e} has no DECIMAL value"))?.into()),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON | Type::XML => {
            Cell::Text(std::str::from_utf8(raw).map_err(|e| e.to_string())?.into())
        }
        // Version byte 1, then the text.
        Type::JSONB => Cell::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?.into()),
        Type::UUID => {
            let b: [u8; 16] = be(raw)?;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Cell::Text(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]).into())
        }
        Type::BYTEA => Cell::Bytes(raw),
        Type::DATE => {
            let d = i32::from_be_bytes(be(raw)?);
            if d == i32::MAX || d == i32::MIN {
                return Err("an infinite date has no DATE value".into());
            }
            Cell::Date(d.checked_add(PG_EPOCH_DAYS).ok_or("date out of range")?)
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let m = i64::from_be_bytes(be(raw)?);
            if m == i64::MAX || m == i64::MIN {
                return Err("an infinite timestamp has no TIMESTAMP value".into());
            }
            Cell::Timestamp(m.checked_add(PG_EPOCH_MICROS).ok_or("timestamp out of range")?)
        }
        Type::TIME => Cell::Time(i64::from_be_bytes(be(raw)?) * 1000),
        _ if matches!(ty.kind(), Kind::Enum(_)) => Cell::Text(std::str::from_utf8(raw).map_err(|e| e.to_string())?.into()),
        _ => return Err(format!("PostgreSQL type '{}' cannot be read by the jdbc connector", ty.name())),
    })
}

/// One MySQL result value (binary protocol) as a [`Cell`].
fn mysql_cell(v: &mysql_async::Value) -> Result<Cell<'_>, String> {
    use mysql_async::Value;
    Ok(match v {
        Value::NULL => Cell::Null,
        Value::Bytes(b) => Cell::Bytes(b),
        Value::Int(i) => Cell::Int(*i),
        Value::UInt(u) => Cell::UInt(*u),
        Value::Float(f) => Cell::F32(*f),
        Value::Double(f) => Cell::F64(*f),
        Value::Date(y, mo, d, h, mi, s, us) => {
            let days = days_of(*y as i32, *mo as u32, *d as u32).ok_or_else(|| format!("invalid date {y:04}-{mo:02}-{d:02}"))?;
            Cell::Timestamp(days as i64 * 86_400_000_000 + ((*h as i64 * 60 + *mi as i64) * 60 + *s as i64) * 1_000_000 + *us as i64)
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let n = (((*days as i64 * 24 + *h as i64) * 60 + *mi as i64) * 60 + *s as i64) * 1_000_000_000 + *us as i64 * 1000;
            if *neg || n >= 86_400_000_000_000 {
                return Err(format!("time {}{}:{mi:02}:{s:02} is not a time of day", if *neg { "-" } else { "" }, *days as i64 * 24 + *h as i64));
            }
            Cell::Time(n)
        }
    })
}

enum Conn {
    Pg { client: tokio_postgres::Client, prepared: HashMap<String, tokio_postgres::Statement> },
    My(Option<mysql_async::Conn>),
}

/// One connection and the runtime that drives it.
pub struct Db {
    rt: tokio::runtime::Runtime,
    conn: Conn,
}

/// A statement of a transaction: SQL text and its parameters.
pub type Stmt<'a> = (String, Vec<Param<'a>>);

impl Db {
    /// Connect within `timeout`; PostgreSQL shows `application` in `pg_stat_activity`.
    pub fn connect(ep: &Endpoint, timeout: Duration, application: &str) -> Result<Db, DbError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DbError { kind: ErrorKind::Connection, message: format!("cannot start the client runtime: {e}") })?;
        let timed_out = || DbError { kind: ErrorKind::Connection, message: format!("no connection within {} s", timeout.as_secs()) };
        let os_user = std::env::var("USER").ok().filter(|u| !u.is_empty());
        let conn = match ep.dialect {
            Dialect::Postgres => {
                let mut cfg = tokio_postgres::Config::new();
                let user = ep.user.clone().or(os_user).unwrap_or_else(|| "postgres".into());
                // At most 63 bytes (PostgreSQL's NAMEDATALEN - 1).
                let mut app = application.to_string();
                while app.len() > 63 {
                    app.pop();
                }
                cfg.host(&ep.host).port(ep.port).user(&user).application_name(&app).connect_timeout(timeout);
                if let Some(db) = &ep.database {
                    cfg.dbname(db);
                }
                if let Some(p) = &ep.password {
                    cfg.password(p);
                }
                let mut options = String::from("-c TimeZone=UTC");
                if let Some(s) = &ep.schema {
                    options.push_str(" -c search_path=");
                    options.push_str(&s.replace('\\', "\\\\").replace(' ', "\\ "));
                }
                cfg.options(&options);
                let (client, connection) = rt.block_on(async { tokio::time::timeout(timeout, cfg.connect(tokio_postgres::NoTls)).await }).map_err(|_| timed_out())?.map_err(pg_error)?;
                rt.spawn(async move {
                    let _ = connection.await;
                });
                Conn::Pg { client, prepared: HashMap::new() }
            }
            Dialect::MySql => {
                let opts = mysql_async::OptsBuilder::default()
                    .ip_or_hostname(ep.host.clone())
                    .tcp_port(ep.port)
                    .user(Some(ep.user.clone().or(os_user).unwrap_or_else(|| "root".into())))
                    .pass(ep.password.clone())
                    .db_name(ep.database.clone())
                    .prefer_socket(false)
                    .init(vec!["SET time_zone = '+00:00'"]);
                let c = rt.block_on(async { tokio::time::timeout(timeout, mysql_async::Conn::new(opts)).await }).map_err(|_| timed_out())?.map_err(mysql_error)?;
                Conn::My(Some(c))
            }
        };
        Ok(Db { rt, conn })
    }

    /// Run `stmts` in one transaction, committed if `commit` (else rolled back: a probe). On
    /// failure everything is rolled back and the error comes with the index of the failing
    /// statement (`None`: beginning or committing failed).
    pub fn transaction(&mut self, stmts: &[Stmt<'_>], commit: bool) -> Result<(), (Option<usize>, DbError)> {
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        let Db { rt, conn } = self;
        match conn {
            Conn::Pg { client, prepared } => rt.block_on(async {
                let at = |i: Option<usize>| move |e| (i, pg_error(e));
                client.batch_execute("BEGIN").await.map_err(at(None))?;
                let mut result = Ok(());
                for (i, (sql, params)) in stmts.iter().enumerate() {
                    if prepared.len() > 64 {
                        prepared.clear();
                    }
                    let stmt = match prepared.get(sql) {
                        Some(s) => s.clone(),
                        None => match client.prepare(sql).await {
                            Ok(s) => {
                                prepared.insert(sql.clone(), s.clone());
                                s
                            }
                            Err(e) => {
                                result = Err(at(Some(i))(e));
                                break;
                            }
                        },
                    };
                    let ps: Vec<PgParam<'_>> = params.iter().map(PgParam).collect();
                    if let Err(e) = client.execute_raw(&stmt, ps.iter()).await {
                        result = Err(at(Some(i))(e));
                        break;
                    }
                }
                match result {
                    Ok(()) => client.batch_execute(end).await.map_err(at(None)),
                    Err((i, e)) => {
                        if e.kind != ErrorKind::Connection {
                            let _ = client.batch_execute("ROLLBACK").await;
                        }
                        Err((i, e))
                    }
                }
            }),
            Conn::My(slot) => {
                let Some(c) = slot.as_mut() else { return Err((None, DbError { kind: ErrorKind::Connection, message: "connection closed".into() })) };
                rt.block_on(async {
                    let at = |i: Option<usize>| move |e| (i, mysql_error(e));
                    c.query_drop("START TRANSACTION").await.map_err(at(None))?;
                    let mut result = Ok(());
                    for (i, (sql, params)) in stmts.iter().enumerate() {
                        let values: Vec<mysql_async::Value> = params.iter().map(Param::mysql_value).collect();
                        if let Err(e) = c.exec_drop(sql.as_str(), mysql_async::Params::Positional(values)).await {
                            result = Err(at(Some(i))(e));
                            break;
                        }
                    }
                    match result {
                        Ok(()) => c.query_drop(end).await.map_err(at(None)),
                        Err((i, e)) => {
                            if e.kind != ErrorKind::Connection {
                                let _ = c.query_drop("ROLLBACK").await;
                            }
                            Err((i, e))
                        }
                    }
                })
            }
        }
    }

    /// Run a query with parameters and append every row it returns to `columns` (a lookup:
    /// the result is small, so it is read at once).
    pub fn query(&mut self, sql: &str, params: &[Param<'_>], columns: &mut [ColumnBuilder]) -> Result<usize, DbError> {
        let Db { rt, conn } = self;
        match conn {
            Conn::Pg { client, prepared } => rt.block_on(async {
                if prepared.len() > 64 {
                    prepared.clear();
                }
                let stmt = match prepared.get(sql) {
                    Some(s) => s.clone(),
                    None => {
                        let s = client.prepare(sql).await.map_err(pg_error)?;
                        prepared.insert(sql.to_string(), s.clone());
                        s
                    }
                };
                let ps: Vec<PgParam<'_>> = params.iter().map(PgParam).collect();
                let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let rows = client.query(&stmt, &refs).await.map_err(pg_error)?;
                for row in &rows {
                    for (i, col) in columns.iter_mut().enumerate() {
                        let raw: PgRaw<'_> = row.try_get(i).map_err(pg_error)?;
                        let cell = pg_cell(row.columns()[i].type_(), raw.0).map_err(|e| DbError::data(format!("column '{}': {e}", row.columns()[i].name())))?;
                        col.append(cell).map_err(DbError::data)?;
                    }
                }
                Ok(rows.len())
            }),
            Conn::My(slot) => {
                let Some(c) = slot.as_mut() else { return Err(DbError { kind: ErrorKind::Connection, message: "connection closed".into() }) };
                rt.block_on(async {
                    let values: Vec<mysql_async::Value> = params.iter().map(Param::mysql_value).collect();
                    let rows: Vec<mysql_async::Row> = c.exec(sql, mysql_async::Params::Positional(values)).await.map_err(mysql_error)?;
                    for row in &rows {
                        for (i, col) in columns.iter_mut().enumerate() {
                            let v = row.as_ref(i).unwrap_or(&mysql_async::Value::NULL);
                            let name = row.columns_ref().get(i).map(|c| c.name_str().to_string()).unwrap_or_default();
                            let cell = mysql_cell(v).map_err(|e| DbError::data(format!("column '{name}': {e}")))?;
                            col.append(cell).map_err(DbError::data)?;
                        }
                    }
                    Ok(rows.len())
                })
            }
        }
    }

    /// Run a scan query (`range`: the BETWEEN parameters of a partition), skip its first
    /// `skip` rows, append every further row to `columns` and call `row_done` after each; stop
    /// early when it returns false. PostgreSQL fetches `fetch` rows per round trip through a
    /// portal in a read-only transaction; MySQL streams the result set.
    pub fn scan(
        &mut self,
        sql: &str,
        range: Option<(i64, i64)>,
        fetch: usize,
        mut skip: u64,
        columns: &mut [ColumnBuilder],
        row_done: &mut dyn FnMut(&mut [ColumnBuilder]) -> bool,
    ) -> Result<(), DbError> {
        let Db { rt, conn } = self;
        let bounds: Vec<Param<'static>> = range.map(|(a, b)| vec![Param::Int(a), Param::Int(b)]).unwrap_or_default();
        match conn {
            Conn::Pg { client, .. } => rt.block_on(async {
                let tx = client.build_transaction().read_only(true).start().await.map_err(pg_error)?;
                let stmt = tx.prepare(sql).await.map_err(pg_error)?;
                let ps: Vec<PgParam<'_>> = bounds.iter().map(PgParam).collect();
                let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let portal = tx.bind(&stmt, &refs).await.map_err(pg_error)?;
                let fetch = fetch.clamp(1, i32::MAX as usize);
                loop {
                    let rows = tx.query_portal(&portal, fetch as i32).await.map_err(pg_error)?;
                    for row in &rows {
                        if skip > 0 {
                            skip -= 1;
                            continue;
                        }
                        for (i, col) in columns.iter_mut().enumerate() {
                            let raw: PgRaw<'_> = row.try_get(i).map_err(pg_error)?;
                            let cell = pg_cell(row.columns()[i].type_(), raw.0).map_err(|e| DbError::data(format!("column '{}': {e}", row.columns()[i].name())))?;
                            col.append(cell).map_err(DbError::data)?;
                        }
                        if !row_done(columns) {
                            return Ok(());
                        }
                    }
                    if rows.len() < fetch {
                        break;
                    }
                }
                tx.commit().await.map_err(pg_error)
            }),
            Conn::My(slot) => {
                let Some(c) = slot.as_mut() else { return Err(DbError { kind: ErrorKind::Connection, message: "connection closed".into() }) };
                rt.block_on(async {
                    let params = if bounds.is_empty() { mysql_async::Params::Empty } else { mysql_async::Params::Positional(bounds.iter().map(Param::mysql_value).collect()) };
                    let mut result = c.exec_iter(sql, params).await.map_err(mysql_error)?;
                    while let Some(row) = result.next().await.map_err(mysql_error)? {
                        if skip > 0 {
                            skip -= 1;
                            continue;
                        }
                        for (i, col) in columns.iter_mut().enumerate() {
                            let v = row.as_ref(i).unwrap_or(&mysql_async::Value::NULL);
                            let name = row.columns_ref().get(i).map(|c| c.name_str().to_string()).unwrap_or_default();
                            let cell = mysql_cell(v).map_err(|e| DbError::data(format!("column '{name}': {e}")))?;
                            col.append(cell).map_err(DbError::data)?;
                        }
                        if !row_done(columns) {
                            return Ok(());
                        }
                    }
                    Ok(())
                })
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Conn::My(slot) = &mut self.conn
            && let Some(c) = slot.take()
        {
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(1), c.disconnect()).await });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight, sign as i16, dscale as i16].iter().chain(digits) {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_from_binary() {
        // 12345.678 = [1, 2345, 6780] weight 1, dscale 3
        assert_eq!(pg_numeric(&numeric(3, 1, 0, 3, &[1, 2345, 6780])).unwrap(), "12345.678");
        // -0.0005 = [5] weight -1 → 0.0005
        assert_eq!(pg_numeric(&numeric(1, -1, 0x4000, 4, &[5])).unwrap(), "-0.0005");
        // 0.00000001 = [1] weight -2 (1e-8), dscale 8
        assert_eq!(pg_numeric(&numeric(1, -2, 0, 8, &[1])).unwrap(), "0.00000001");
        // 20000 = [2] weight 1, trailing zero group omitted
        assert_eq!(pg_numeric(&numeric(1, 1, 0, 0, &[2])).unwrap(), "20000");
        assert_eq!(pg_numeric(&numeric(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert!(pg_numeric(&numeric(0, 0, 0xC000, 0, &[])).is_err());
    }

    #[test]
    fn mysql_values() {
        use mysql_async::Value;
        assert_eq!(mysql_cell(&Value::Date(1970, 1, 2, 0, 0, 1, 5)).unwrap(), Cell::Timestamp(86_401_000_005));
        assert_eq!(mysql_cell(&Value::Time(false, 0, 1, 2, 3, 0)).unwrap(), Cell::Time(3_723_000_000_000));
        assert!(mysql_cell(&Value::Date(0, 0, 0, 0, 0, 0, 0)).is_err());
    }
}
