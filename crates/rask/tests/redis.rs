//! The redis connector against the machine's Redis (127.0.0.1:6379, see
//! `../shared/services.md`), through the real binary: an upsert sink fed by a changelog (keys
//! updated and deleted), each data layout (STRING, HASHMAP with hashName, by key and field,
//! one field per column), lookup joins with and without the LRU cache, and bad tables. Every
//! test writes under its own key prefix and deletes its keys at the end.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::Commands;

mod common;

fn conn() -> redis::Connection {
    redis::Client::open("redis://127.0.0.1:6379/0")
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| panic!("cannot connect to Redis at 127.0.0.1:6379 (is it running? see ../shared/services.md): {e}"))
}

/// A key prefix unique to this test; its keys are deleted when the test ends.
struct Prefix(String);

impl Prefix {
    fn new(name: &str) -> Prefix {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Prefix(format!("rask_{name}_{}_{}_", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
    }
    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = conn().keys(format!("{}*", self.0)).expect("KEYS");
        k.sort();
        k
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let mut c = conn();
        let keys: Vec<String> = c.keys(format!("{}*", self.0)).unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = c.del(keys);
        }
    }
}

struct Run {
    ok: bool,
    rows: Vec<String>,
    stderr: String,
}

fn run(dir: &Path, sql: &str, args: &[&str]) -> Run {
    let r = common::run_script(dir, sql, args);
    let mut rows: Vec<String> = r.printed.into_iter().map(|(_, row)| row).collect();
    rows.sort();
    Run { ok: r.ok, rows, stderr: r.stderr }
}

const REDIS: &str = "'connector' = 'redis', 'host' = '127.0.0.1'";

/// A changelog (Debezium products → per-name aggregate) upserted into Redis strings at
/// parallelism 1 and 2: updated keys hold the final value, deleted groups are gone.
#[test]
fn upsert_sink_applies_a_changelog() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/debezium-products.json");
    let dir = tempfile::tempdir().expect("tmp");
    for p in ["1", "2"] {
        let pre = Prefix::new("agg");
        let sql = format!(
            "CREATE TABLE src (id BIGINT, name STRING, weight DOUBLE) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             CREATE TABLE dst (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ({REDIS});\n\
             INSERT INTO dst SELECT '{}' || name, CAST(COUNT(*) AS STRING) || '/' || CAST(SUM(weight) AS STRING) FROM src GROUP BY name;",
            fixture.display(),
            pre.0
        );
        let r = run(dir.path(), &sql, &["-p", p]);
        assert!(r.ok, "P{p}: {}", r.stderr);
        // The fixture's final products: one hammer (1.0) and one scooter (5.18); the car
        // battery's group was deleted along the way.
        let keys = pre.keys();
        assert_eq!(keys, [format!("{}hammer", pre.0), format!("{}scooter", pre.0)], "P{p}");
        let mut c = conn();
        let hammer: String = c.get(&keys[0]).expect("GET");
        let scooter: String = c.get(&keys[1]).expect("GET");
        assert_eq!((hammer.as_str(), scooter.as_str()), ("1/1.0", "1/5.18"), "P{p}");
    }
}

/// Each layout written by the sink and read back by a lookup join.
#[test]
fn every_layout_round_trips_through_a_lookup_join() {
    let dir = tempfile::tempdir().expect("tmp");
    let pre = Prefix::new("layout");
    let p = &pre.0;
    let hash = format!("{p}users");
    let write = format!(
        "CREATE TABLE s (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ({REDIS});\n\
         CREATE TABLE h (f STRING, v STRING, PRIMARY KEY (f) NOT ENFORCED) WITH ({REDIS}, 'mode' = 'HASHMAP', 'hashName' = '{hash}');\n\
         CREATE TABLE kf (k STRING, f STRING, v STRING, PRIMARY KEY (k, f) NOT ENFORCED) WITH ({REDIS}, 'mode' = 'HASHMAP');\n\
         CREATE TABLE flat (k STRING, name STRING, city STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ({REDIS}, 'mode' = 'HASHMAP', 'expiration' = '600000');\n\
         EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO s VALUES ('{p}1', 'one'), ('{p}2', 'two');\n\
         INSERT INTO h VALUES ('1', 'ann'), ('2', 'ben');\n\
         INSERT INTO kf VALUES ('{p}kf', '1', 'x'), ('{p}kf', '2', 'y');\n\
         INSERT INTO flat VALUES ('{p}u1', 'ann', 'oslo'), ('{p}u2', 'ben', CAST(NULL AS STRING));\n\
         END;"
    );
    let r = run(dir.path(), &write, &[]);
    assert!(r.ok, "{}", r.stderr);
    let mut c = conn();
    assert_eq!(c.get::<_, String>(format!("{p}1")).unwrap(), "one");
    assert_eq!(c.hget::<_, _, String>(&hash, "2").unwrap(), "ben");
    assert_eq!(c.hget::<_, _, String>(format!("{p}kf"), "1").unwrap(), "x");
    let u1: std::collections::BTreeMap<String, String> = c.hgetall(format!("{p}u1")).unwrap();
    assert_eq!(u1.into_iter().collect::<Vec<_>>(), [("city".to_string(), "oslo".to_string()), ("name".to_string(), "ann".to_string())]);
    let ttl: i64 = c.pttl(format!("{p}u1")).unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "expiration: {ttl}");

    // Look every layout up from one stream of ids 1, 2, 3 (3 is nowhere).
    let read = format!(
        "CREATE TABLE ids (id INT, pt AS PROCTIME()) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '3');\n\
         CREATE TABLE s (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ({REDIS}, 'cache' = 'LRU', 'cacheSize' = '10');\n\
         CREATE TABLE h (f STRING, v STRING, PRIMARY KEY (f) NOT ENFORCED) WITH ({REDIS}, 'mode' = 'HASHMAP', 'hashName' = '{hash}');\n\
         CREATE TABLE kf (k STRING, f STRING, v STRING, PRIMARY KEY (k, f) NOT ENFORCED) WITH ({REDIS}, 'mode' = 'HASHMAP');\n\
         CREATE TABLE flat (k STRING, name STRING, city STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ({REDIS}, 'mode' = 'HASHMAP');\n\
         CREATE TABLE out1 (id INT, s STRING, h STRING, kf STRING, name STRING, city STRING) WITH ('connector' = 'print');\n\
         INSERT INTO out1 SELECT i.id, s.v, h.v, kf.v, flat.name, flat.city FROM ids AS i\n\
           LEFT JOIN s FOR SYSTEM_TIME AS OF i.pt ON s.k = '{p}' || CAST(i.id AS STRING)\n\
           LEFT JOIN h FOR SYSTEM_TIME AS OF i.pt ON h.f = CAST(i.id AS STRING)\n\
           LEFT JOIN kf FOR SYSTEM_TIME AS OF i.pt ON kf.k = '{p}kf' AND kf.f = CAST(i.id AS STRING)\n\
           LEFT JOIN flat FOR SYSTEM_TIME AS OF i.pt ON flat.k = '{p}u' || CAST(i.id AS STRING);"
    );
    let r = run(dir.path(), &read, &[]);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.rows, ["+I[1, one, ann, x, ann, oslo]", "+I[2, two, ben, y, ben, null]", "+I[3, null, null, null, null, null]"]);
    // An INNER lookup join keeps matched rows only.
    let inner = read.replace("LEFT JOIN s FOR", "JOIN s FOR");
    let r = run(dir.path(), &inner, &[]);
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.rows, ["+I[1, one, ann, x, ann, oslo]", "+I[2, two, ben, y, ben, null]"]);
}

/// The LRU cache answers repeated keys without asking Redis (and serves what it cached even
/// after Redis changed, until its entries expire), while the uncached table sees the change.
#[test]
fn lookup_cache_serves_repeated_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let pre = Prefix::new("cache");
    let p = &pre.0;
    let mut c = conn();
    for i in 0..4 {
        let _: () = c.set(format!("{p}{i}"), format!("v{i}")).unwrap();
    }
    // 40,000 rows of 4 keys arrive in several batches.
    let sql = |cache: &str| {
        format!(
            "CREATE TABLE ids (n BIGINT, pt AS PROCTIME()) WITH ('connector' = 'datagen', 'fields.n.kind' = 'sequence', 'fields.n.start' = '0', 'fields.n.end' = '39999');\n\
             CREATE TABLE kv (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ({REDIS}{cache});\n\
             CREATE TABLE out1 (v STRING, c BIGINT) WITH ('connector' = 'print');\n\
             INSERT INTO out1 SELECT kv.v, COUNT(*) FROM ids AS i JOIN kv FOR SYSTEM_TIME AS OF i.pt ON kv.k = '{p}' || CAST(MOD(i.n, 4) AS STRING) GROUP BY kv.v;"
        )
    };
    let cached = run(dir.path(), &sql(", 'cache' = 'LRU', 'cacheSize' = '100', 'cacheTTLMs' = '3600000'"), &["--progress", "plain", "--batch-size", "1000"]);
    assert!(cached.ok, "{}", cached.stderr);
    let uncached = run(dir.path(), &sql(""), &["--progress", "plain", "--batch-size", "1000"]);
    assert!(uncached.ok, "{}", uncached.stderr);
    let table = |rows: &[String]| -> Vec<String> {
        // The last value per group: rows are "+I[v0, 1]", "-U[v0, 1]", "+U[v0, 2]", …
        let mut best: std::collections::BTreeMap<String, i64> = Default::default();
        for r in rows.iter().filter(|r| !r.starts_with("-")) {
            let inner = &r[3..r.len() - 1];
            let (v, n) = inner.split_once(", ").unwrap();
            let e = best.entry(v.to_string()).or_insert(0);
            *e = (*e).max(n.parse().unwrap());
        }
        best.into_iter().map(|(v, n)| format!("{v}={n}")).collect()
    };
    assert_eq!(table(&cached.rows), ["v0=10000", "v1=10000", "v2=10000", "v3=10000"]);
    assert_eq!(table(&uncached.rows), table(&cached.rows));
    let (asked, hits) = common::lookup_figures(&cached.stderr);
    assert_eq!(asked, 4, "the cache asks each key once: {}", cached.stderr);
    assert!(hits > 0, "{}", cached.stderr);
    let (asked, hits) = common::lookup_figures(&uncached.stderr);
    assert!(asked > 4 && hits == 0, "without a cache every batch asks: {asked} asked, {hits} hits");
}

#[test]
fn bad_redis_tables_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    for (ddl, msg) in [
        ("CREATE TABLE r (k STRING, v STRING) WITH ('connector' = 'redis', 'host' = '127.0.0.1')", "needs a PRIMARY KEY"),
        ("CREATE TABLE r (k STRING, v INT, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'redis', 'host' = '127.0.0.1')", "column 'v' of a redis table must be STRING"),
        ("CREATE TABLE r (k STRING, v STRING, w STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'redis', 'host' = '127.0.0.1')", "'mode' = 'STRING' needs two columns"),
        ("CREATE TABLE r (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'redis')", "host"),
        ("CREATE TABLE r (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'redis', 'host' = '127.0.0.1', 'cache' = 'ALL')", "cache"),
    ] {
        let r = run(dir.path(), &format!("{ddl};\nINSERT INTO r VALUES ('a', 'b');"), &[]);
        assert!(!r.ok && r.stderr.contains(msg), "{ddl}: expected '{msg}', got {}", r.stderr);
    }
    // An unreachable server fails the job with where it tried.
    let r = run(
        dir.path(),
        "CREATE TABLE r (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'redis', 'host' = '127.0.0.1', 'port' = '1', 'connection.timeout' = '2 s');\nINSERT INTO r VALUES ('a', 'b');",
        &[],
    );
    assert!(!r.ok && r.stderr.contains("cannot connect to 127.0.0.1:1/0"), "{}", r.stderr);
    // Redis tables cannot be scanned.
    let r = run(
        dir.path(),
        "CREATE TABLE r (k STRING, v STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ('connector' = 'redis', 'host' = '127.0.0.1');\nCREATE TABLE o (k STRING, v STRING) WITH ('connector' = 'blackhole');\nINSERT INTO o SELECT * FROM r;",
        &[],
    );
    assert!(!r.ok && r.stderr.contains("cannot be used as a source"), "{}", r.stderr);
}
