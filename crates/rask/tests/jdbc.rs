//! The jdbc connector against the machine's PostgreSQL (127.0.0.1:5432, user `postgres`, trust)
//! and MariaDB (127.0.0.1:3306, `root`, empty password), through the real binary: a
//! debezium-json changelog aggregated into an upsert table (parallelism 1 and 2, and flushing
//! every change); group aggregations surviving SIGKILLed workers with checkpoints; append mode
//! and scans (every supported type, NULLs, a partitioned scan at parallelism 2); bad input
//! (constraint violations, updates into a table without key, unknown options, bad URLs).
//! Every test names its tables uniquely and drops them at the end (services:
//! `../shared/services.md`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

mod common;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Pg,
    Maria,
}

/// A test's own connection, to prepare and check tables.
struct Db {
    kind: Kind,
    rt: tokio::runtime::Runtime,
    pg: Option<tokio_postgres::Client>,
    my: Option<mysql_async::Conn>,
}

impl Db {
    fn try_connect(kind: Kind) -> Result<Db, String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        match kind {
            Kind::Pg => {
                let (client, conn) = rt
                    .block_on(tokio_postgres::connect("host=127.0.0.1 port=5432 user=postgres dbname=test options='-c TimeZone=UTC'", tokio_postgres::NoTls))
                    .map_err(|e| e.to_string())?;
                rt.spawn(async move {
                    let _ = conn.await;
                });
                Ok(Db { kind, rt, pg: Some(client), my: None })
            }
            Kind::Maria => {
                let opts = mysql_async::OptsBuilder::default()
                    .ip_or_hostname("127.0.0.1")
                    .tcp_port(3306)
                    .user(Some("root"))
                    .pass(Some(""))
                    .db_name(Some("test"))
                    .prefer_socket(false)
                    .init(vec!["SET time_zone = '+00:00'"]);
                let c = rt.block_on(mysql_async::Conn::new(opts)).map_err(|e| e.to_string())?;
                Ok(Db { kind, rt, pg: None, my: Some(c) })
            }
        }
    }

    fn connect(kind: Kind) -> Db {
        Db::try_connect(kind).unwrap_or_else(|e| panic!("cannot connect to {kind:?} (is it running? see ../shared/services.md): {e}"))
    }

    fn try_exec(&mut self, sql: &str) -> Result<(), String> {
        match (&self.pg, &mut self.my) {
            (Some(c), _) => self.rt.block_on(c.batch_execute(sql)).map_err(|e| e.to_string()),
            (_, Some(c)) => self.rt.block_on(c.query_drop(sql)).map_err(|e| e.to_string()),
            _ => Err("no connection".into()),
        }
    }

    fn exec(&mut self, sql: &str) {
        self.try_exec(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The rows of a query, values in the database's text form (NULL as `null`) joined by `|`.
    fn rows(&mut self, sql: &str) -> Vec<String> {
        match (&self.pg, &mut self.my) {
            (Some(c), _) => self
                .rt
                .block_on(c.simple_query(sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("null").to_string()).collect::<Vec<_>>().join("|")),
                    _ => None,
                })
                .collect(),
            (_, Some(c)) => self
                .rt
                .block_on(c.query::<mysql_async::Row, _>(sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .into_iter()
                .map(|r| {
                    r.unwrap()
                        .into_iter()
                        .map(|v| match v {
                            mysql_async::Value::NULL => "null".to_string(),
                            mysql_async::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                            other => other.as_sql(true),
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The table options of the Rask side.
    fn with(&self, table: &str) -> String {
        match self.kind {
            Kind::Pg => format!("'connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test', 'table-name' = '{table}', 'username' = 'postgres', 'password' = ''"),
            Kind::Maria => format!("'connector' = 'jdbc', 'url' = 'jdbc:mariadb://127.0.0.1:3306/test', 'table-name' = '{table}', 'username' = 'root', 'password' = ''"),
        }
    }

    fn double(&self) -> &'static str {
        if self.kind == Kind::Pg { "DOUBLE PRECISION" } else { "DOUBLE" }
    }
}

/// Drops the tables it names when the test ends (also when it fails).
struct Tables {
    kind: Kind,
    names: Vec<String>,
}

impl Tables {
    /// `n` table names unique to this test process.
    fn new(kind: Kind, prefix: &str, n: usize) -> Tables {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let names = (0..n).map(|_| format!("rask_{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))).collect();
        Tables { kind, names }
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        if let Ok(mut db) = Db::try_connect(self.kind) {
            for n in &self.names {
                let _ = db.try_exec(&format!("DROP TABLE IF EXISTS {n}"));
            }
        }
    }
}

struct Run {
    ok: bool,
    /// Printed rows without their subtask prefixes, sorted.
    rows: Vec<String>,
    /// The subtask prefixes of the printed rows (`1`, `2`, …), distinct.
    subtasks: Vec<String>,
    stderr: String,
}

/// Run a script through the binary.
fn run(dir: &Path, sql: &str, args: &[&str]) -> Run {
    let r = common::run_script(dir, sql, args);
    let mut rows: Vec<String> = r.printed.iter().map(|(_, row)| row.clone()).collect();
    let mut subtasks: Vec<String> = r.printed.into_iter().map(|(prefix, _)| prefix).collect();
    rows.sort();
    subtasks.sort();
    subtasks.dedup();
    Run { ok: r.ok, rows, subtasks, stderr: r.stderr }
}

/// The products left by Flink's changelog of the Debezium fixture, aggregated per name:
/// (name, SUM(weight), COUNT(*)).
fn products_per_name() -> Vec<(String, f64, i64)> {
    let mut by_id: BTreeMap<i64, (String, f64)> = BTreeMap::new();
    for l in include_str!("../../../tests/data/debezium-products.changelog").lines() {
        let (kind, rest) = l.split_at(2);
        let f: Vec<&str> = rest.trim_start_matches('[').trim_end_matches(']').split(", ").collect();
        let id: i64 = f[0].parse().expect("id");
        if kind == "+I" || kind == "+U" {
            by_id.insert(id, (f[1].to_string(), f[2].parse().expect("weight")));
        } else {
            by_id.remove(&id);
        }
    }
    let mut per: BTreeMap<String, (f64, i64)> = BTreeMap::new();
    for (name, w) in by_id.into_values() {
        let e = per.entry(name).or_insert((0.0, 0));
        *e = (e.0 + w, e.1 + 1);
    }
    per.into_iter().map(|(n, (w, c))| (n, w, c)).collect()
}

fn parse_products(rows: Vec<String>) -> Vec<(String, f64, i64)> {
    let mut v: Vec<(String, f64, i64)> = rows
        .iter()
        .map(|r| {
            let f: Vec<&str> = r.split('|').collect();
            (f[0].to_string(), f[1].parse().expect("w"), f[2].parse().expect("n"))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Debezium records → GROUP BY name → upsert table: at parallelism 1 and 2, and with a flush
/// per change (so that rows are inserted, updated and deleted one statement at a time).
fn cdc_aggregation_into(kind: Kind) {
    let mut db = Db::connect(kind);
    let tables = Tables::new(kind, "cdc", 1);
    let t = &tables.names[0];
    db.exec(&format!("CREATE TABLE {t} (name VARCHAR(64) PRIMARY KEY, w {}, n BIGINT)", db.double()));
    let want = products_per_name();
    assert_eq!(want.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["hammer", "scooter"], "the fixture's final products");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/debezium-products.json");
    let dir = tempfile::tempdir().expect("tmp");
    for (p, extra) in [("1", ""), ("2", ""), ("2", ", 'sink.buffer-flush.max-rows' = '1'")] {
        db.exec(&format!("DELETE FROM {t}"));
        let sql = format!(
            "CREATE TABLE src (id BIGINT, name STRING, weight DOUBLE) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             CREATE TABLE dst (name STRING, w DOUBLE, n BIGINT, PRIMARY KEY (name) NOT ENFORCED) WITH ({}{extra});\n\
             INSERT INTO dst SELECT name, SUM(weight), COUNT(*) FROM src GROUP BY name;",
            fixture.display(),
            db.with(t)
        );
        let r = run(dir.path(), &sql, &["-p", p]);
        assert!(r.ok, "P{p}{extra}: {}", r.stderr);
        assert_eq!(parse_products(db.rows(&format!("SELECT name, w, n FROM {t}"))), want, "{kind:?} at P{p}{extra}");
    }
}

#[test]
fn cdc_aggregation_into_postgres() {
    cdc_aggregation_into(Kind::Pg);
}

#[test]
fn cdc_aggregation_into_mariadb() {
    cdc_aggregation_into(Kind::Maria);
}

const CHAOS_ROWS: i64 = 12_000;
const CHAOS_RATE: i64 = 3_000;
const KILLS: usize = 3;

/// The final tables of the chaos job, computed here: per `id % 7` (count, sum, max), and per
/// count of `id % 97` (number of keys with that count, largest key).
fn chaos_expected() -> (Vec<String>, Vec<String>) {
    let ids = 0..CHAOS_ROWS;
    let agg = (0..7)
        .map(|g| {
            let v: Vec<i64> = ids.clone().filter(|i| i % 7 == g).collect();
            format!("{g}|{}|{}|{}", v.len(), v.iter().sum::<i64>(), v.iter().max().unwrap_or(&0))
        })
        .collect();
    let mut per_count: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for k in 0..97 {
        let c = ids.clone().filter(|i| i % 97 == k).count() as i64;
        let e = per_count.entry(c).or_insert((0, i64::MIN));
        *e = (e.0 + 1, e.1.max(k));
    }
    (agg, per_count.into_iter().map(|(c, (n, mx))| format!("{c}|{n}|{mx}")).collect())
}

/// Group aggregations (one retracting the other, so the sink sees deletes all the time) into
/// two upsert tables with checkpoints every 200 ms; worker processes are SIGKILLed at random
/// moments and restarted from the last checkpoint; the tables must end exactly as computed.
fn killing_workers_leaves_exact_tables(kind: Kind) {
    let seed = std::env::var("RASK_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
    });
    let mut rng = seed;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let mut db = Db::connect(kind);
    let tables = Tables::new(kind, "chaos", 2);
    let (agg, nested) = (&tables.names[0], &tables.names[1]);
    db.exec(&format!("CREATE TABLE {agg} (g BIGINT PRIMARY KEY, c BIGINT, s BIGINT, mx BIGINT)"));
    db.exec(&format!("CREATE TABLE {nested} (c BIGINT PRIMARY KEY, n BIGINT, mx BIGINT)"));
    let dir = tempfile::tempdir().expect("tmp");
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '200ms';\n\
         SET 'execution.checkpointing.dir' = '{}';\n\
         SET 'restart-strategy.type' = 'fixed-delay';\n\
         SET 'restart-strategy.fixed-delay.attempts' = '1000';\n\
         SET 'restart-strategy.fixed-delay.delay' = '50ms';\n\
         CREATE TABLE a (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0', \
           'fields.id.end' = '{}', 'rows-per-second' = '{CHAOS_RATE}');\n\
         CREATE TABLE agg (g BIGINT, c BIGINT, s BIGINT, mx BIGINT, PRIMARY KEY (g) NOT ENFORCED) WITH ({}, 'sink.buffer-flush.max-rows' = '500');\n\
         CREATE TABLE nested (c BIGINT, n BIGINT, mx BIGINT, PRIMARY KEY (c) NOT ENFORCED) WITH ({}, 'sink.buffer-flush.max-rows' = '500');\n\
         EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO agg SELECT id % 7, COUNT(*), SUM(id), MAX(id) FROM a GROUP BY id % 7;\n\
         INSERT INTO nested SELECT c, COUNT(*), MAX(k) FROM (SELECT id % 97 AS k, COUNT(*) AS c FROM a GROUP BY id % 97) GROUP BY c;\n\
         END;\n",
        dir.path().join("chk").display(),
        CHAOS_ROWS - 1,
        db.with(agg),
        db.with(nested)
    );
    let script = dir.path().join("chaos.sql");
    std::fs::write(&script, sql).expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", script.to_str().expect("path"), "--progress", "none", "-p", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rask run");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        use std::io::Read;
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut kills = 0;
    let started = Instant::now();
    while kills < KILLS && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(next(300, 900)));
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        let workers = common::children_of(child.id());
        if workers.is_empty() {
            continue; // restarting
        }
        let victim = workers[(next(0, 1000) as usize) % workers.len()];
        let _ = Command::new("kill").arg("-9").arg(victim.to_string()).status();
        kills += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("seed {seed}: the job did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = reader.join().unwrap_or_default();
    assert!(status.success(), "seed {seed}: the job failed: {err}");
    assert_eq!(kills, KILLS, "seed {seed}: the job ended after {kills} kills; make it longer:\n{err}");
    assert!(err.matches("restarting").count() >= KILLS, "seed {seed}: every kill was recovered from:\n{err}");
    let (want_agg, want_nested) = chaos_expected();
    let mut got = db.rows(&format!("SELECT g, c, s, mx FROM {agg}"));
    got.sort_by_key(|r| r.split('|').next().and_then(|g| g.parse::<i64>().ok()));
    assert_eq!(got, want_agg, "{kind:?} seed {seed}: per id % 7");
    let mut got = db.rows(&format!("SELECT c, n, mx FROM {nested}"));
    got.sort_by_key(|r| r.split('|').next().and_then(|g| g.parse::<i64>().ok()));
    assert_eq!(got, want_nested, "{kind:?} seed {seed}: per count (stale counts left by missed deletes?)");
}

#[test]
fn killing_workers_leaves_exact_tables_in_postgres() {
    killing_workers_leaves_exact_tables(Kind::Pg);
}

#[test]
fn killing_workers_leaves_exact_tables_in_mariadb() {
    killing_workers_leaves_exact_tables(Kind::Maria);
}

/// Append mode writes every type (NULLs included); the scan reads them back, together with a
/// row the database wrote itself, as Flink prints them.
fn append_and_scan_every_type(kind: Kind) {
    let mut db = Db::connect(kind);
    let tables = Tables::new(kind, "types", 1);
    let t = &tables.names[0];
    db.exec(&match kind {
        Kind::Pg => format!(
            "CREATE TABLE {t} (id INT, big BIGINT, small SMALLINT, amount NUMERIC(10, 2), s VARCHAR(20), b BOOLEAN, f DOUBLE PRECISION, \
             r REAL, d DATE, ts TIMESTAMP(3), tsz TIMESTAMPTZ(3), bytes_col BYTEA)"
        ),
        Kind::Maria => format!(
            "CREATE TABLE {t} (id INT, big BIGINT, small SMALLINT, amount DECIMAL(10, 2), s VARCHAR(20), b BOOLEAN, f DOUBLE, \
             r FLOAT, d DATE, ts DATETIME(3), tsz TIMESTAMP(3) NULL, bytes_col VARBINARY(16))"
        ),
    });
    let columns = "id INT, big BIGINT, small SMALLINT, amount DECIMAL(10, 2), s STRING, b BOOLEAN, f DOUBLE, r FLOAT, d DATE, \
                   ts TIMESTAMP(3), tsz TIMESTAMP_LTZ(3), bytes_col BYTES";
    let dir = tempfile::tempdir().expect("tmp");
    let sql = format!(
        "CREATE TABLE j ({columns}) WITH ({});\n\
         INSERT INTO j VALUES \
           (1, 9000000000, CAST(-7 AS SMALLINT), CAST(12.34 AS DECIMAL(10, 2)), 'héllo', TRUE, CAST(2.5 AS DOUBLE), CAST(0.25 AS FLOAT), \
            DATE '2024-02-29', TIMESTAMP '2024-01-02 03:04:05.678', TO_TIMESTAMP_LTZ(1700000000123, 3), CAST('ab' AS BYTES)), \
           (2, CAST(NULL AS BIGINT), CAST(NULL AS SMALLINT), CAST(NULL AS DECIMAL(10, 2)), CAST(NULL AS STRING), CAST(NULL AS BOOLEAN), \
            CAST(NULL AS DOUBLE), CAST(NULL AS FLOAT), CAST(NULL AS DATE), CAST(NULL AS TIMESTAMP(3)), CAST(NULL AS TIMESTAMP_LTZ(3)), \
            CAST(NULL AS BYTES));",
        db.with(t)
    );
    let r = run(dir.path(), &sql, &[]);
    assert!(r.ok, "{}", r.stderr);
    let got = db.rows(&format!("SELECT id, big, small, amount, s, b, f, r, d, ts, tsz, bytes_col FROM {t} ORDER BY id"));
    let want = match kind {
        Kind::Pg => [
            "1|9000000000|-7|12.34|héllo|t|2.5|0.25|2024-02-29|2024-01-02 03:04:05.678|2023-11-14 22:13:20.123+00|\\x6162",
            "2|null|null|null|null|null|null|null|null|null|null|null",
        ],
        Kind::Maria => [
            "1|9000000000|-7|12.34|héllo|1|2.5|0.25|2024-02-29|2024-01-02 03:04:05.678|2023-11-14 22:13:20.123|ab",
            "2|null|null|null|null|null|null|null|null|null|null|null",
        ],
    };
    assert_eq!(got, want, "{kind:?}: the rows as the database holds them");
    // A row written by the database itself.
    db.exec(&match kind {
        Kind::Pg => format!(
            "INSERT INTO {t} VALUES (3, -1, 32767, -0.05, 'it''s', FALSE, -1.5e-7, 3.5, '1969-12-31', '1999-12-31 23:59:59.999', \
             '2000-01-01 00:00:00+02', '\\x00ff')"
        ),
        Kind::Maria => format!(
            "INSERT INTO {t} VALUES (3, -1, 32767, -0.05, 'it''s', FALSE, -1.5e-7, 3.5, '1969-12-31', '1999-12-31 23:59:59.999', \
             '1999-12-31 22:00:00', X'00ff')"
        ),
    });
    let sql = format!(
        "CREATE TABLE j ({columns}) WITH ({});\nCREATE TABLE p ({columns}) WITH ('connector' = 'print');\nINSERT INTO p SELECT * FROM j;",
        db.with(t)
    );
    let r = run(dir.path(), &sql, &[]);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(
        r.rows,
        [
            "+I[1, 9000000000, -7, 12.34, héllo, true, 2.5, 0.25, 2024-02-29, 2024-01-02T03:04:05.678, 2023-11-14T22:13:20.123Z, [97, 98]]",
            "+I[2, null, null, null, null, null, null, null, null, null, null, null]",
            "+I[3, -1, 32767, -0.05, it's, false, -1.5E-7, 3.5, 1969-12-31, 1999-12-31T23:59:59.999, 1999-12-31T22:00:00Z, [0, -1]]",
        ],
        "{kind:?}: the scan"
    );
}

#[test]
fn append_and_scan_every_type_in_postgres() {
    append_and_scan_every_type(Kind::Pg);
}

#[test]
fn append_and_scan_every_type_in_mariadb() {
    append_and_scan_every_type(Kind::Maria);
}

/// `scan.partition.*` at parallelism 2: Flink's ranges, dealt to both subtasks, read every row
/// between the bounds once (and none outside them).
fn partitioned_scan(kind: Kind) {
    let mut db = Db::connect(kind);
    let tables = Tables::new(kind, "part", 1);
    let t = &tables.names[0];
    db.exec(&format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, v VARCHAR(10))"));
    let values: Vec<String> = (0..=100).map(|i| format!("({i}, 'v{i}')")).collect();
    db.exec(&format!("INSERT INTO {t} VALUES {}", values.join(", ")));
    let dir = tempfile::tempdir().expect("tmp");
    let sql = format!(
        "CREATE TABLE src (id BIGINT, v STRING) WITH ({}, 'scan.partition.column' = 'id', 'scan.partition.num' = '3', \
           'scan.partition.lower-bound' = '1', 'scan.partition.upper-bound' = '100', 'scan.fetch-size' = '7');\n\
         CREATE TABLE p (id BIGINT, v STRING) WITH ('connector' = 'print');\n\
         INSERT INTO p SELECT * FROM src;",
        db.with(t)
    );
    let r = run(dir.path(), &sql, &["-p", "2"]);
    assert!(r.ok, "{}", r.stderr);
    let mut want: Vec<String> = (1..=100).map(|i| format!("+I[{i}, v{i}]")).collect();
    want.sort();
    assert_eq!(r.rows, want, "{kind:?}");
    assert_eq!(r.subtasks, ["1", "2"], "{kind:?}: both subtasks read ranges");
}

#[test]
fn partitioned_scan_at_parallelism_2_in_postgres() {
    partitioned_scan(Kind::Pg);
}

#[test]
fn partitioned_scan_at_parallelism_2_in_mariadb() {
    partitioned_scan(Kind::Maria);
}

/// A NOT NULL or CHECK constraint of the database fails the job with the row and the
/// database's message, and the flush's transaction leaves nothing behind.
fn constraint_violations_fail_the_job(kind: Kind) {
    let mut db = Db::connect(kind);
    let tables = Tables::new(kind, "bad", 1);
    let t = &tables.names[0];
    db.exec(&format!("CREATE TABLE {t} (name VARCHAR(10) PRIMARY KEY, n BIGINT NOT NULL CHECK (n >= 0))"));
    let dir = tempfile::tempdir().expect("tmp");
    let (not_null, check) = match kind {
        Kind::Pg => ("violates not-null constraint", "violates check constraint"),
        Kind::Maria => ("Column 'n' cannot be null", "CONSTRAINT"),
    };
    for (bad, row, db_says) in [("CAST(NULL AS BIGINT)", "+I[b, null]", not_null), ("-5", "+I[b, -5]", check)] {
        let sql = format!(
            "CREATE TABLE dst (name STRING, n BIGINT, PRIMARY KEY (name) NOT ENFORCED) WITH ({});\n\
             INSERT INTO dst VALUES ('a', 1), ('b', {bad}), ('c', 3);",
            db.with(t)
        );
        let r = run(dir.path(), &sql, &[]);
        assert!(!r.ok, "{kind:?}: {bad} was accepted");
        assert!(r.stderr.contains("(user error)") && r.stderr.contains(&format!("cannot write to table '{t}'")), "{kind:?}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("row {row}:")) && r.stderr.contains(db_says), "{kind:?}: {}", r.stderr);
        assert_eq!(db.rows(&format!("SELECT name FROM {t}")), Vec::<String>::new(), "{kind:?}: the failed flush was rolled back");
    }
}

#[test]
fn constraint_violations_fail_the_job_in_postgres() {
    constraint_violations_fail_the_job(Kind::Pg);
}

#[test]
fn constraint_violations_fail_the_job_in_mariadb() {
    constraint_violations_fail_the_job(Kind::Maria);
}

#[test]
fn planning_and_connection_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/debezium-products.json");
    let src = format!(
        "CREATE TABLE src (id BIGINT, name STRING, weight DOUBLE) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n",
        fixture.display()
    );
    let pg = "'connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test', 'table-name' = 'never_created', 'username' = 'postgres', 'password' = ''";
    // An updating query into a table without primary key.
    let r = run(dir.path(), &format!("{src}CREATE TABLE dst (name STRING, n BIGINT) WITH ({pg});\nINSERT INTO dst SELECT name, COUNT(*) FROM src GROUP BY name;"), &[]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("table sink 'dst' (connector 'jdbc') doesn't support consuming update changes")
            && r.stderr.contains("declare the table's PRIMARY KEY (…) NOT ENFORCED"),
        "{}",
        r.stderr
    );
    // An unknown option.
    let r = run(dir.path(), &format!("CREATE TABLE dst (name STRING) WITH ({pg}, 'sink.buffer-flush.max-row' = '5');"), &[]);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("unsupported option 'sink.buffer-flush.max-row' for connector 'jdbc' (did you mean 'sink.buffer-flush.max-rows'?); supported options:"),
        "{}",
        r.stderr
    );
    // A database the connector does not speak.
    let r = run(dir.path(), "CREATE TABLE dst (name STRING) WITH ('connector' = 'jdbc', 'url' = 'jdbc:oracle:thin:@localhost:1521:orcl', 'table-name' = 't');", &[]);
    assert!(!r.ok);
    assert!(r.stderr.contains("is for database 'oracle', which is not supported") && r.stderr.contains("jdbc:postgresql://host:port/database"), "{}", r.stderr);
    // Nobody listening: the job fails as an external error, at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    let started = Instant::now();
    let r = run(
        dir.path(),
        &format!("CREATE TABLE dst (name STRING) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:{port}/test', 'table-name' = 't');\nINSERT INTO dst VALUES ('x');"),
        &[],
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("(external error)") && r.stderr.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/test")), "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

/// The database ends the sink's connection in the middle of a job (`pg_terminate_backend`):
/// the flush reconnects and retries, the job succeeds and the table is exact.
#[test]
fn a_lost_connection_is_reconnected_and_the_flush_retried() {
    let mut db = Db::connect(Kind::Pg);
    let tables = Tables::new(Kind::Pg, "lost", 1);
    let t = &tables.names[0];
    db.exec(&format!("CREATE TABLE {t} (g BIGINT PRIMARY KEY, c BIGINT, s BIGINT)"));
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("lost.sql");
    let rows = 3_000i64;
    std::fs::write(
        &script,
        format!(
            "CREATE TABLE a (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0', \
               'fields.id.end' = '{}', 'rows-per-second' = '1500');\n\
             CREATE TABLE dst (g BIGINT, c BIGINT, s BIGINT, PRIMARY KEY (g) NOT ENFORCED) WITH ({}, 'sink.buffer-flush.max-rows' = '50');\n\
             INSERT INTO dst SELECT id % 13, COUNT(*), SUM(id) FROM a GROUP BY id % 13;",
            rows - 1,
            db.with(t)
        ),
    )
    .expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", script.to_str().expect("path"), "--progress", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rask run");
    // The sink's connection names the table (application_name). The job writes for 2 s once
    // it runs; on a loaded machine it may take a while to start: look while it runs.
    let started = Instant::now();
    let mut terminated = 0;
    while terminated == 0 && started.elapsed() < Duration::from_secs(30) && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(100));
        let n = db.rows(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rask sink {t}'"
        ));
        terminated = n.len();
    }
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(terminated, 1, "the sink's connection was found and ended: {err}");
    assert!(out.status.success(), "{err}");
    assert!(err.contains("retrying"), "the flush said it retried: {err}");
    let mut got = db.rows(&format!("SELECT g, c, s FROM {t}"));
    got.sort_by_key(|r| r.split('|').next().and_then(|g| g.parse::<i64>().ok()));
    let want: Vec<String> = (0..13)
        .map(|g| {
            let v: Vec<i64> = (0..rows).filter(|i| i % 13 == g).collect();
            format!("{g}|{}|{}", v.len(), v.iter().sum::<i64>())
        })
        .collect();
    assert_eq!(got, want);
}

/// A partitioned scan with checkpoints, its worker SIGKILLed mid-scan: restored readers run
/// their unfinished ranges again, skip the rows already emitted, and the exactly-once
/// filesystem sink ends with every row once.
#[test]
fn a_killed_scan_resumes_its_ranges_from_the_checkpoint() {
    let mut db = Db::connect(Kind::Pg);
    let tables = Tables::new(Kind::Pg, "resume", 1);
    let t = &tables.names[0];
    let rows = 300_000;
    db.exec(&format!("CREATE TABLE {t} AS SELECT g AS id, 'v' || g AS v FROM generate_series(1, {rows}) g"));
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let script = dir.path().join("scan.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'execution.checkpointing.interval' = '100ms';\n\
             SET 'execution.checkpointing.dir' = '{}';\n\
             SET 'restart-strategy.type' = 'fixed-delay';\n\
             SET 'restart-strategy.fixed-delay.attempts' = '100';\n\
             SET 'restart-strategy.fixed-delay.delay' = '50ms';\n\
             CREATE TABLE src (id BIGINT, v STRING) WITH ({}, 'scan.fetch-size' = '1', 'scan.partition.column' = 'id', \
               'scan.partition.num' = '4', 'scan.partition.lower-bound' = '1', 'scan.partition.upper-bound' = '{rows}');\n\
             CREATE TABLE out (id BIGINT, v STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO out SELECT * FROM src;",
            dir.path().join("chk").display(),
            db.with(t),
            out.display()
        ),
    )
    .expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", script.to_str().expect("path"), "--progress", "none", "-p", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rask run");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        use std::io::Read;
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut kills = 0;
    for pause in [500, 600] {
        std::thread::sleep(Duration::from_millis(pause));
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if let Some(w) = common::children_of(child.id()).first() {
            let _ = Command::new("kill").arg("-9").arg(w.to_string()).status();
            kills += 1;
        }
    }
    let status = child.wait().expect("wait");
    let err = reader.join().unwrap_or_default();
    assert!(status.success(), "{err}");
    assert!(kills >= 1 && err.contains("resuming from checkpoint"), "the scan was killed after a checkpoint ({kills} kills); make it longer:\n{err}");
    let mut got: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&out).expect("output").flatten() {
        if !e.file_name().to_string_lossy().starts_with('.') {
            got.extend(std::fs::read_to_string(e.path()).expect("part").lines().map(str::to_string));
        }
    }
    got.sort();
    let mut want: Vec<String> = (1..=rows).map(|i| format!("{i},v{i}")).collect();
    want.sort();
    assert_eq!(got.len(), want.len(), "rows committed");
    assert!(got == want, "every row exactly once");
}

/// The table a changelog leaves (each row as `+I[…]`), sorted.
fn materialise(rows: &[String]) -> Vec<String> {
    let mut count: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows {
        let (kind, row) = r.split_at(2);
        *count.entry(row).or_default() += if kind == "+I" || kind == "+U" { 1 } else { -1 };
    }
    count.into_iter().flat_map(|(row, n)| std::iter::repeat_n(format!("+I{row}"), n.max(0) as usize)).collect()
}

/// A stream of orders enriched from a dimension table in the database by a processing-time
/// lookup join: LEFT (unmatched and NULL keys padded) and INNER with a further condition, with
/// and without `lookup.cache`; the cache's effect shows in the number of keys asked of the
/// database (the input arrives in several batches with the same few keys).
fn lookup_join_enriches_a_stream(kind: Kind) {
    let mut db = Db::connect(kind);
    let tables = Tables::new(kind, "dim", 1);
    let t = &tables.names[0];
    db.exec(&format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20), tier INT)"));
    db.exec(&format!("INSERT INTO {t} VALUES (1, 'alice', 1), (2, 'bob', 2), (3, 'carol', 3), (4, NULL, 4)"));
    let dir = tempfile::tempdir().expect("tmp");
    // 30,000 orders: ids cycle through 1, 2, 3, 4, 9 (no such row) and NULL.
    let ids = ["1", "2", "3", "4", "9", "null"];
    let n = 30_000usize;
    let mut orders = String::new();
    for i in 0..n {
        orders.push_str(&format!("{{\"oid\": {i}, \"id\": {}, \"amount\": {}}}\n", ids[i % ids.len()], i % 50));
    }
    let path = dir.path().join("orders.json");
    std::fs::write(&path, orders).expect("orders");
    let source = format!(
        "CREATE TABLE orders (oid INT, id INT, amount INT, pt AS PROCTIME()) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');",
        path.display()
    );
    let left = "SELECT o.id, d.name, d.tier, COUNT(*) AS n FROM orders AS o LEFT JOIN dim FOR SYSTEM_TIME AS OF o.pt AS d ON o.id = d.id GROUP BY o.id, d.name, d.tier";
    let want_left = ["+I[1, alice, 1, 5000]", "+I[2, bob, 2, 5000]", "+I[3, carol, 3, 5000]", "+I[4, null, 4, 5000]", "+I[9, null, null, 5000]", "+I[null, null, null, 5000]"];
    for (cache, p) in [("", "1"), (", 'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '100', 'lookup.partial-cache.expire-after-write' = '1 h'", "1"), (", 'lookup.cache.max-rows' = '100', 'lookup.cache.ttl' = '1 h'", "2")] {
        let sql = format!(
            "{source}\nCREATE TABLE dim (id INT, name STRING, tier INT, PRIMARY KEY (id) NOT ENFORCED) WITH ({}{cache});\n\
             CREATE TABLE out1 (id INT, name STRING, tier INT, n BIGINT) WITH ('connector' = 'print');\n\
             INSERT INTO out1 {left};",
            db.with(t)
        );
        let r = run(dir.path(), &sql, &["-p", p, "--progress", "plain"]);
        assert!(r.ok, "{kind:?} cache [{cache}] P{p}: {}", r.stderr);
        assert_eq!(materialise(&r.rows), want_left, "{kind:?} cache [{cache}] P{p}");
        let (asked, hits) = common::lookup_figures(&r.stderr);
        if cache.is_empty() {
            // Every batch asks for its keys again (5 non-NULL keys per batch).
            assert!(asked > 5 && hits == 0, "{kind:?} without cache: {asked} keys asked, {hits} hits");
        } else {
            // Each subtask asks once per key (a missing key is cached too), then hits the cache.
            assert!(asked <= 5 * p.parse::<u64>().unwrap() && hits > 0, "{kind:?} with cache P{p}: {asked} keys asked, {hits} hits");
        }
    }
    // INNER, with a condition on the joined row and a filter on the table's side.
    let sql = format!(
        "{source}\nCREATE TABLE dim (id INT, name STRING, tier INT, PRIMARY KEY (id) NOT ENFORCED) WITH ({});\n\
         CREATE TABLE out1 (oid INT, name STRING, amount INT, tier INT) WITH ('connector' = 'print');\n\
         INSERT INTO out1 SELECT o.oid, UPPER(d.name), o.amount, d.tier FROM orders AS o JOIN dim FOR SYSTEM_TIME AS OF o.pt AS d \
           ON o.id = d.id AND o.amount < d.tier * 2 AND d.name <> 'bob' WHERE o.oid < 600;",
        db.with(t)
    );
    let r = run(dir.path(), &sql, &[]);
    assert!(r.ok, "{kind:?}: {}", r.stderr);
    let mut want: Vec<String> = (0..600usize)
        .filter_map(|i| {
            let id = ids[i % ids.len()];
            let (name, tier) = match id {
                "1" => ("ALICE", 1),
                "3" => ("CAROL", 3),
                _ => return None, // bob filtered out, 4 has a NULL name, 9 and NULL have no row
            };
            let amount = i % 50;
            (amount < tier * 2).then(|| format!("+I[{i}, {name}, {amount}, {tier}]"))
        })
        .collect();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(r.rows, want, "{kind:?}: inner lookup join");
}

#[test]
fn lookup_join_enriches_a_stream_from_postgres() {
    lookup_join_enriches_a_stream(Kind::Pg);
}

#[test]
fn lookup_join_enriches_a_stream_from_mariadb() {
    lookup_join_enriches_a_stream(Kind::Maria);
}

/// A job joining one order (id 7, written to `dir`) with the dimension table `with` (its
/// connector options) by a lookup join carrying `hint`, printing (oid, name).
fn order_lookup_job(dir: &Path, with: &str, hint: &str) -> String {
    let path = dir.join("orders.json");
    std::fs::write(&path, "{\"oid\": 1, \"id\": 7}\n").expect("orders");
    format!(
        "CREATE TABLE orders (oid INT, id INT, pt AS PROCTIME()) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
         CREATE TABLE dim (id INT, name STRING, PRIMARY KEY (id) NOT ENFORCED) WITH ({with});\n\
         CREATE TABLE out1 (oid INT, name STRING) WITH ('connector' = 'print');\n\
         INSERT INTO out1 SELECT {hint} o.oid, d.name FROM orders AS o JOIN dim FOR SYSTEM_TIME AS OF o.pt AS d ON o.id = d.id;",
        path.display()
    )
}

/// Flink's LOOKUP hint with retries: a key whose row is not there yet is looked up again after
/// the fixed delay, so an order that arrives before its dimension row still joins it; without
/// the hint it finds nothing.
#[test]
fn lookup_hint_retries_a_missing_key() {
    let mut db = Db::connect(Kind::Pg);
    let tables = Tables::new(Kind::Pg, "late_dim", 1);
    let t = tables.names[0].clone();
    db.exec(&format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20))"));
    let dir = tempfile::tempdir().expect("tmp");
    let sql = |hint: &str| order_lookup_job(dir.path(), &db.with(&t), hint);
    let r = run(dir.path(), &sql(""), &[]);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.rows.is_empty(), "no dimension row yet: {:?}", r.rows);
    // The row appears about a second after the job starts; the hint retries every 300 ms.
    let table = t.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        Db::connect(Kind::Pg).exec(&format!("INSERT INTO {table} VALUES (7, 'late')"));
    });
    let started = std::time::Instant::now();
    let hint = "/*+ LOOKUP('table'='d', 'retry-predicate'='lookup_miss', 'retry-strategy'='fixed_delay', 'fixed-delay'='300 ms', 'max-attempts'='20') */";
    let r = run(dir.path(), &sql(hint), &[]);
    writer.join().expect("writer");
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.rows, vec!["+I[1, late]".to_string()], "retried until the row existed");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "stopped retrying once found");
}

/// The LOOKUP hint's 'timeout' bounds a lookup: with the dimension table locked by another
/// transaction the lookup blocks, and the job fails with the timeout instead of hanging; once
/// the lock is released the same job runs.
#[test]
fn lookup_hint_timeout_fails_a_blocked_lookup() {
    let mut db = Db::connect(Kind::Pg);
    let tables = Tables::new(Kind::Pg, "locked_dim", 1);
    let t = tables.names[0].clone();
    db.exec(&format!("CREATE TABLE {t} (id INT PRIMARY KEY, name VARCHAR(20)); INSERT INTO {t} VALUES (7, 'seven')"));
    let dir = tempfile::tempdir().expect("tmp");
    let sql = order_lookup_job(dir.path(), &db.with(&t), "/*+ LOOKUP('table'='d', 'async'='true', 'timeout'='700 ms') */");
    let mut locker = Db::connect(Kind::Pg);
    locker.exec(&format!("BEGIN; LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE"));
    let started = std::time::Instant::now();
    let r = run(dir.path(), &sql, &[]);
    let took = started.elapsed();
    locker.exec("COMMIT");
    assert!(!r.ok, "the blocked lookup should fail the job: {:?}", r.rows);
    assert!(r.stderr.contains("did not finish within the LOOKUP hint's 'timeout' (700ms)"), "{}", r.stderr);
    assert!(took < std::time::Duration::from_secs(30), "gave up after the timeout, not later ({took:?})");
    let r = run(dir.path(), &sql, &[]);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.rows, vec!["+I[1, seven]".to_string()]);
}

/// What Flink refuses in a lookup join, refused with its reason.
#[test]
fn lookup_join_errors() {
    let db = Db::connect(Kind::Pg);
    let dir = tempfile::tempdir().expect("tmp");
    let pre = format!(
        "CREATE TABLE o (id INT, ts TIMESTAMP(3), pt AS PROCTIME()) WITH ('connector' = 'datagen', 'number-of-rows' = '1');\n\
         CREATE TABLE dim (id INT, name STRING) WITH ({});\n\
         CREATE TABLE k (id INT, name STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '1');\n\
         CREATE TABLE out1 (id INT, name STRING) WITH ('connector' = 'blackhole');\n",
        db.with("no_such_table")
    );
    for (query, msg) in [
        ("SELECT o.id, d.name FROM o JOIN dim FOR SYSTEM_TIME AS OF o.pt AS d ON o.id > d.id", "requires an equality condition on fields of table [dim]"),
        ("SELECT o.id, d.name FROM o JOIN dim FOR SYSTEM_TIME AS OF o.ts AS d ON o.id = d.id", "only supports 'FOR SYSTEM_TIME AS OF' the left table's time attribute"),
        ("SELECT o.id, d.name FROM o JOIN dim FOR SYSTEM_TIME AS OF o.nope AS d ON o.id = d.id", "FOR SYSTEM_TIME AS OF o.nope: no such column"),
        ("SELECT o.id, d.name FROM o RIGHT JOIN dim FOR SYSTEM_TIME AS OF o.pt AS d ON o.id = d.id", "a lookup join is INNER or LEFT"),
        ("SELECT o.id, d.name FROM o JOIN k FOR SYSTEM_TIME AS OF o.pt AS d ON o.id = d.id", "table 'k' (connector 'datagen') cannot be looked up"),
        ("SELECT d.id, d.name FROM dim FOR SYSTEM_TIME AS OF PROCTIME() AS d", "FOR SYSTEM_TIME AS OF expects a time attribute column"),
    ] {
        let r = run(dir.path(), &format!("{pre}INSERT INTO out1 {query};"), &[]);
        assert!(!r.ok && r.stderr.contains(msg), "{query}: expected '{msg}', got: {}", r.stderr);
    }
    // A lookup against a table the database does not have fails the job with its message.
    let r = run(dir.path(), &format!("{pre}INSERT INTO out1 SELECT o.id, d.name FROM o JOIN dim FOR SYSTEM_TIME AS OF o.pt AS d ON o.id = d.id;"), &[]);
    assert!(!r.ok && r.stderr.contains("no_such_table") && r.stderr.contains("lookup"), "{}", r.stderr);
}
