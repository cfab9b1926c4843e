//! `jdbc` connector options: Flink's keys (connection, partitioned scan, sink buffering and
//! retries, and the lookup cache keys, accepted for the lookup join to come), Flink's cross-option
//! checks, the connection URL (`jdbc:postgresql://…`, `jdbc:mysql://…`, `jdbc:mariadb://…`) and
//! the column types each dialect can carry.

use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use rask_types::options::{OptionKind, OptionSpec, Options};
use rask_types::types::FlinkType;

const INT: OptionKind = OptionKind::Int { min: 0, max: i32::MAX as i64 };
const LONG: OptionKind = OptionKind::Int { min: i64::MIN, max: i64::MAX };

pub fn specs() -> Vec<OptionSpec> {
    vec![
        OptionSpec::new("url", OptionKind::String, "The JDBC database URL: jdbc:postgresql://host:port/database, jdbc:mysql://host:port/database or jdbc:mariadb://….").required(),
        OptionSpec::new("table-name", OptionKind::String, "The table to read or write (PostgreSQL: optionally schema-qualified).").required(),
        OptionSpec::new("driver", OptionKind::String, "The JDBC driver class (accepted and ignored: the driver follows from the URL)."),
        OptionSpec::new("username", OptionKind::String, "The user name (with 'password')."),
        OptionSpec::new("password", OptionKind::String, "The password (with 'username')."),
        OptionSpec::new("connection.max-retry-timeout", OptionKind::Duration, "How long connecting may take (at least 1 s).").default("60 s"),
        OptionSpec::new("scan.partition.column", OptionKind::String, "The numeric column that splits the scan into ranges."),
        OptionSpec::new("scan.partition.num", OptionKind::Int { min: 1, max: i32::MAX as i64 }, "The number of ranges."),
        OptionSpec::new("scan.partition.lower-bound", LONG, "The smallest value of the first range."),
        OptionSpec::new("scan.partition.upper-bound", LONG, "The largest value of the last range."),
        OptionSpec::new("scan.fetch-size", INT, "PostgreSQL: rows fetched per round trip when reading (0: the batch size); MySQL streams the result.").default("0"),
        OptionSpec::new("scan.auto-commit", OptionKind::Bool, "Auto-commit mode of the reading connection (accepted; scans run in a read-only transaction).").default("true"),
        OptionSpec::new("sink.buffer-flush.max-rows", INT, "Flush the buffered changes after this many (0 disables).").default("100"),
        OptionSpec::new("sink.buffer-flush.interval", OptionKind::Duration, "Flush the buffered changes at this interval (0 disables).").default("1 s"),
        OptionSpec::new("sink.max-retries", INT, "How often a flush that failed on a lost connection or a deadlock is retried.").default("3"),
        OptionSpec::new("sink.parallelism", OptionKind::Int { min: 1, max: 32768 }, "Sink parallelism (accepted; the job's parallelism is used)."),
        OptionSpec::new("lookup.cache", OptionKind::Enum(&["NONE", "PARTIAL"]), "The lookup cache (lookup joins).").default("NONE"),
        OptionSpec::new("lookup.partial-cache.max-rows", OptionKind::Int { min: 0, max: i64::MAX }, "Rows the partial lookup cache holds."),
        OptionSpec::new("lookup.partial-cache.expire-after-write", OptionKind::Duration, "A cached lookup row expires this long after it was written."),
        OptionSpec::new("lookup.partial-cache.expire-after-access", OptionKind::Duration, "A cached lookup row expires this long after its last access."),
        OptionSpec::new("lookup.partial-cache.cache-missing-key", OptionKind::Bool, "Cache lookups that found no row.").default("true"),
        OptionSpec::new("lookup.max-retries", INT, "How often a failed lookup is retried.").default("3"),
        OptionSpec::new("lookup.cache.max-rows", OptionKind::Int { min: -1, max: i64::MAX }, "Deprecated: use 'lookup.partial-cache.max-rows'."),
        OptionSpec::new("lookup.cache.ttl", OptionKind::Duration, "Deprecated: use 'lookup.partial-cache.expire-after-write'."),
        OptionSpec::new("lookup.cache.caching-missing-key", OptionKind::Bool, "Deprecated: use 'lookup.partial-cache.cache-missing-key'."),
    ]
}

/// The database family behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    /// MySQL and MariaDB (one wire protocol).
    MySql,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::MySql => "MySQL",
        }
    }
}

/// Where and as whom to connect, from `url`, `username` and `password`.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub dialect: Dialect,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// PostgreSQL's `currentSchema` URL parameter (the search path).
    pub schema: Option<String>,
}

impl Endpoint {
    /// `PostgreSQL at host:port/db`, for messages.
    pub fn describe(&self) -> String {
        format!("{} at {}:{}/{}", self.dialect.name(), self.host, self.port, self.database.as_deref().unwrap_or(""))
    }
}

/// `scan.partition.*`: the scan is split into `num` ranges of `column` between the bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Partitioning {
    pub column: String,
    pub num: u32,
    pub lower: i64,
    pub upper: i64,
}

impl Partitioning {
    /// Flink's ranges (`JdbcNumericBetweenParametersProvider.ofBatchNum`): `num` ranges
    /// (at most one per value) of equal size, the first ones one larger when it does not divide.
    pub fn ranges(&self) -> Vec<(i64, i64)> {
        let count = (self.upper as i128 - self.lower as i128 + 1) as u128;
        let num = (self.num as u128).min(count).max(1);
        let size = count.div_ceil(num);
        let big = count as i128 - (size as i128 - 1) * num as i128;
        let mut out = Vec::with_capacity(num as usize);
        let mut start = self.lower as i128;
        for i in 0..num as i128 - 1 {
            let end = start + size as i128 - 1 - if i >= big { 1 } else { 0 };
            out.push((start as i64, end as i64));
            start = end + 1;
        }
        out.push((start as i64, self.upper));
        out
    }
}

#[derive(Debug, Clone)]
pub struct JdbcOptions {
    pub endpoint: Endpoint,
    pub table: String,
    pub connect_timeout: Duration,
    pub partition: Option<Partitioning>,
    pub fetch_size: usize,
    pub flush_max_rows: usize,
    pub flush_interval: Duration,
    pub max_retries: u32,
}

fn all_or_none(opts: &Options, keys: &[&str]) -> Result<(), String> {
    let n = keys.iter().filter(|k| opts.get(k).is_some()).count();
    if n != 0 && n != keys.len() {
        return Err(format!("either all or none of the following options should be provided: {}", keys.join(", ")));
    }
    Ok(())
}

impl JdbcOptions {
    pub fn from_options(opts: &Options) -> Result<Self, String> {
        crate::validate_specs("connector 'jdbc'", opts, &specs())?;
        let mut endpoint = parse_url(&opts.string("url", ""))?;
        all_or_none(opts, &["username", "password"])?;
        if let Some(u) = opts.get("username") {
            endpoint.user = Some(u.to_string());
            endpoint.password = opts.get("password").map(str::to_string);
        }
        all_or_none(opts, &["scan.partition.column", "scan.partition.num", "scan.partition.lower-bound", "scan.partition.upper-bound"])?;
        let partition = match opts.get("scan.partition.column") {
            None => None,
            Some(column) => {
                let lower = opts.int("scan.partition.lower-bound")?.unwrap_or(0);
                let upper = opts.int("scan.partition.upper-bound")?.unwrap_or(0);
                if lower > upper {
                    return Err(format!("'scan.partition.lower-bound'='{lower}' must not be larger than 'scan.partition.upper-bound'='{upper}'"));
                }
                Some(Partitioning { column: column.to_string(), num: opts.int("scan.partition.num")?.unwrap_or(1) as u32, lower, upper })
            }
        };
        all_or_none(opts, &["lookup.cache.max-rows", "lookup.cache.ttl"])?;
        let connect_timeout = opts.duration("connection.max-retry-timeout")?.unwrap_or(Duration::from_secs(60));
        if connect_timeout < Duration::from_secs(1) {
            return Err(format!(
                "the value of 'connection.max-retry-timeout' must be in second granularity and not smaller than 1 second, but is '{}'",
                opts.string("connection.max-retry-timeout", "")
            ));
        }
        let table = opts.string("table-name", "");
        if table.trim().is_empty() {
            return Err("option 'table-name' must name a table".into());
        }
        Ok(JdbcOptions {
            endpoint,
            table,
            connect_timeout,
            partition,
            fetch_size: opts.int("scan.fetch-size")?.unwrap_or(0) as usize,
            flush_max_rows: opts.int("sink.buffer-flush.max-rows")?.unwrap_or(100) as usize,
            flush_interval: opts.duration("sink.buffer-flush.interval")?.unwrap_or(Duration::from_secs(1)),
            max_retries: opts.int("sink.max-retries")?.unwrap_or(3) as u32,
        })
    }

    /// Every column's type must be one the dialect carries (Flink's `JdbcDialect.validate`);
    /// a partition column in the schema must be numeric.
    pub fn check_schema(&self, schema: &SchemaRef) -> Result<(), String> {
        let dialect = self.endpoint.dialect;
        for f in schema.fields() {
            let dt = f.data_type();
            let ok = match dt {
                DataType::Boolean
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(_, _)
                | DataType::Utf8
                | DataType::Binary
                | DataType::Date32
                | DataType::Time32(_) => true,
                DataType::Time64(u) | DataType::Timestamp(u, _) => {
                    if *u == TimeUnit::Nanosecond {
                        return Err(format!(
                            "the precision of column '{}' is out of the TIME/TIMESTAMP precision range [0, 6] supported by the {} dialect",
                            f.name(),
                            dialect.name()
                        ));
                    }
                    true
                }
                _ => false,
            };
            if !ok {
                let ty = FlinkType::from_arrow(dt).map_or_else(|| dt.to_string(), |t| t.to_string());
                return Err(format!("the {} dialect of connector 'jdbc' doesn't support type {ty} (column '{}')", dialect.name(), f.name()));
            }
        }
        if let Some(p) = &self.partition
            && let Ok(f) = schema.field_with_name(&p.column)
            && !matches!(f.data_type(), DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Decimal128(_, _))
        {
            return Err(format!("'scan.partition.column' = '{}' must be a numeric column, but it is {}", p.column, f.data_type()));
        }
        Ok(())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 3 <= b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const URL_FORMS: &str = "jdbc:postgresql://host:port/database, jdbc:mysql://host:port/database or jdbc:mariadb://host:port/database";

/// Parse a JDBC URL of a supported database.
pub fn parse_url(url: &str) -> Result<Endpoint, String> {
    let bad = |why: &str| format!("option 'url' = '{url}' {why}; the jdbc connector supports PostgreSQL and MySQL/MariaDB: {URL_FORMS}");
    let rest = url.trim().strip_prefix("jdbc:").ok_or_else(|| bad("is not a JDBC URL"))?;
    let (scheme, rest) = rest.split_once(':').ok_or_else(|| bad("names no database"))?;
    let dialect = match scheme.to_ascii_lowercase().as_str() {
        "postgresql" => Dialect::Postgres,
        "mysql" | "mariadb" => Dialect::MySql,
        other => return Err(bad(&format!("is for database '{other}', which is not supported"))),
    };
    let rest = rest.strip_prefix("//").ok_or_else(|| bad(&format!("must be of the form jdbc:{scheme}://host[:port]/database")))?;
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = main.split_once('/').unwrap_or((main, ""));
    if authority.contains(',') {
        return Err(bad("lists several hosts, which is not supported"));
    }
    // user:password@ in the authority (accepted by MariaDB's driver).
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let default_port = if dialect == Dialect::Postgres { 5432 } else { 3306 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or_else(|| bad("has an unterminated [IPv6 address]"))?;
        (h.to_string(), p.strip_prefix(':').unwrap_or(""))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (hostport.to_string(), ""),
        }
    };
    let port = if port.is_empty() { default_port } else { port.parse::<u16>().map_err(|_| bad(&format!("has an invalid port '{port}'")))? };
    let mut ep = Endpoint {
        dialect,
        host: if host.is_empty() { "localhost".into() } else { host },
        port,
        database: Some(percent_decode(database)).filter(|d| !d.is_empty()),
        user: None,
        password: None,
        schema: None,
    };
    if let Some(u) = userinfo {
        let (user, pass) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
        ep.user = Some(percent_decode(user));
        ep.password = pass.map(percent_decode);
    }
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = percent_decode(v);
        match k {
            "user" => ep.user = Some(v),
            "password" => ep.password = Some(v),
            "currentSchema" if dialect == Dialect::Postgres => ep.schema = Some(v),
            // TLS is not built in: refuse URLs that require it rather than connect in plain text.
            "ssl" | "useSSL" if v.eq_ignore_ascii_case("true") => return Err(bad("requires TLS, which the jdbc connector does not support yet")),
            "sslmode" | "sslMode" if !matches!(v.to_ascii_lowercase().as_str(), "disable" | "disabled" | "allow" | "prefer" | "preferred") => {
                return Err(bad("requires TLS, which the jdbc connector does not support yet"));
            }
            _ => {}
        }
    }
    Ok(ep)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn opts(kv: &[(&str, &str)]) -> Options {
        Options::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>())
    }

    #[test]
    fn urls() {
        let e = parse_url("jdbc:postgresql://db.example:6543/shop?currentSchema=s&user=u&password=p%40ss").unwrap();
        assert_eq!((e.dialect, e.host.as_str(), e.port, e.database.as_deref()), (Dialect::Postgres, "db.example", 6543, Some("shop")));
        assert_eq!((e.user.as_deref(), e.password.as_deref(), e.schema.as_deref()), (Some("u"), Some("p@ss"), Some("s")));
        let e = parse_url("jdbc:mysql://127.0.0.1/test?useSSL=false&serverTimezone=UTC").unwrap();
        assert_eq!((e.dialect, e.port, e.database.as_deref()), (Dialect::MySql, 3306, Some("test")));
        assert_eq!(parse_url("jdbc:mariadb://[::1]:3307/x").unwrap().host, "::1");
        let err = parse_url("jdbc:oracle:thin:@host:1521:db").unwrap_err();
        assert!(err.contains("database 'oracle', which is not supported") && err.contains("jdbc:postgresql://"), "{err}");
        assert!(parse_url("postgresql://h/db").unwrap_err().contains("is not a JDBC URL"));
        assert!(parse_url("jdbc:postgresql://h:99999/db").unwrap_err().contains("invalid port"));
        assert!(parse_url("jdbc:postgresql://h/db?sslmode=require").unwrap_err().contains("TLS"));
    }

    #[test]
    fn flink_ranges() {
        let p = |num, lower, upper| Partitioning { column: "id".into(), num, lower, upper }.ranges();
        assert_eq!(p(3, 0, 9), vec![(0, 3), (4, 6), (7, 9)]);
        assert_eq!(p(2, 1, 10), vec![(1, 5), (6, 10)]);
        assert_eq!(p(5, 0, 1), vec![(0, 0), (1, 1)]);
        assert_eq!(p(1, -5, 5), vec![(-5, 5)]);
        assert_eq!(p(4, 0, 10), vec![(0, 2), (3, 5), (6, 8), (9, 10)]);
    }

    #[test]
    fn validation_follows_flink() {
        let base = [("connector", "jdbc"), ("url", "jdbc:postgresql://localhost/test"), ("table-name", "t")];
        let with = |extra: &[(&str, &str)]| JdbcOptions::from_options(&opts(&[&base[..], extra].concat()));
        let o = with(&[]).unwrap();
        assert_eq!((o.flush_max_rows, o.flush_interval, o.max_retries), (100, Duration::from_secs(1), 3));
        assert!(with(&[("username", "u")]).unwrap_err().contains("either all or none"));
        assert!(with(&[("scan.partition.column", "id")]).unwrap_err().contains("scan.partition.num"));
        let e = with(&[("scan.partition.column", "id"), ("scan.partition.num", "2"), ("scan.partition.lower-bound", "9"), ("scan.partition.upper-bound", "1")]).unwrap_err();
        assert!(e.contains("must not be larger"), "{e}");
        let e = with(&[("sink.buffer-flush.max-row", "5")]).unwrap_err();
        assert!(e.contains("unsupported option 'sink.buffer-flush.max-row'") && e.contains("did you mean 'sink.buffer-flush.max-rows'"), "{e}");
        for k in ["lookup.cache", "lookup.partial-cache.max-rows", "lookup.partial-cache.expire-after-write", "lookup.partial-cache.expire-after-access", "lookup.partial-cache.cache-missing-key", "lookup.max-retries", "driver", "scan.fetch-size", "scan.auto-commit", "sink.parallelism"] {
            let v = match k {
                "lookup.cache" => "PARTIAL",
                "lookup.partial-cache.cache-missing-key" | "scan.auto-commit" => "false",
                k if k.contains("expire") => "10 min",
                "driver" => "org.postgresql.Driver",
                _ => "5",
            };
            assert!(with(&[(k, v)]).is_ok(), "{k}");
        }
        assert!(with(&[("connection.max-retry-timeout", "500ms")]).unwrap_err().contains("not smaller than 1 second"));
    }

    #[test]
    fn column_types_the_dialects_carry() {
        use std::sync::Arc;

        use arrow::datatypes::{Field, Schema};
        let o = |url: &str, extra: &[(&str, &str)]| {
            JdbcOptions::from_options(&opts(&[&[("url", url), ("table-name", "t")][..], extra].concat())).unwrap()
        };
        let schema = |dt: DataType| -> SchemaRef { Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("c", dt, true)])) };
        let pg = o("jdbc:postgresql://h/db", &[]);
        for dt in [DataType::Decimal128(38, 10), DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), DataType::Binary, DataType::Date32] {
            assert!(pg.check_schema(&schema(dt.clone())).is_ok(), "{dt}");
        }
        let list = DataType::List(Arc::new(Field::new("element", DataType::Int32, true)));
        let e = pg.check_schema(&schema(list)).unwrap_err();
        assert!(e.contains("PostgreSQL dialect of connector 'jdbc' doesn't support type ARRAY<INT> (column 'c')"), "{e}");
        let my = o("jdbc:mysql://h/db", &[("scan.partition.column", "c"), ("scan.partition.num", "2"), ("scan.partition.lower-bound", "0"), ("scan.partition.upper-bound", "9")]);
        let e = my.check_schema(&schema(DataType::Timestamp(TimeUnit::Nanosecond, None))).unwrap_err();
        assert!(e.contains("precision range [0, 6] supported by the MySQL dialect"), "{e}");
        let e = my.check_schema(&schema(DataType::Utf8)).unwrap_err();
        assert!(e.contains("'scan.partition.column' = 'c' must be a numeric column"), "{e}");
    }
}
