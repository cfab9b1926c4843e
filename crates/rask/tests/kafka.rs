//! The Kafka connector against a real Kafka-protocol broker (started per test by
//! `scripts/kafka-up.sh` on a free port and stopped when the test ends): a multi-partition
//! source in every startup mode and bounded mode, at parallelism 1 and 2; offsets restored
//! from a savepoint; malformed records (failing with topic/partition/offset, or skipped); the
//! sink's round trip; an unreachable broker.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

mod common;

/// A broker for one test; stopped (SIGTERM) when dropped.
struct Broker {
    pid: i32,
    bootstrap: String,
}

impl Broker {
    fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka-up.sh");
        let out = Command::new("bash").arg(script).arg(port.to_string()).output().expect("run kafka-up.sh");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "kafka-up.sh failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        let field = |k: &str| text.split_whitespace().find_map(|w| w.strip_prefix(k)).map(str::to_string).expect(k);
        Broker { pid: field("PID=").parse().expect("pid"), bootstrap: field("BOOTSTRAP=") }
    }

    /// A topic with `partitions` partitions that keeps records whatever their timestamps.
    fn topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &self.bootstrap).create().expect("admin");
        let t = NewTopic::new(name, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
        let res = futures::executor::block_on(admin.create_topics([&t], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))))).expect("create topic");
        for r in res {
            r.expect("topic created");
        }
    }

    /// Produce `(partition, timestamp ms, payload)` records and wait for their acknowledgement.
    fn produce(&self, topic: &str, records: &[(i32, i64, String)]) {
        let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &self.bootstrap).create().expect("producer");
        for (part, ts, payload) in records {
            p.send(BaseRecord::<(), str>::to(topic).partition(*part).timestamp(*ts).payload(payload.as_str())).expect("send");
            p.poll(Duration::ZERO);
        }
        p.flush(Duration::from_secs(10)).expect("flush");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// 10 records per partition of a 3-partition topic: id = partition * 100 + i, at timestamps
/// 1000 * (i + 1) (so each partition's offsets and timestamps line up; 0 would mean "now").
fn fill(b: &Broker, topic: &str) {
    b.topic(topic, 3);
    let mut recs = Vec::new();
    for part in 0..3 {
        for i in 0..10i64 {
            recs.push((part, 1000 * (i + 1), format!("{{\"id\": {}, \"p\": {part}}}", part as i64 * 100 + i)));
        }
    }
    b.produce(topic, &recs);
}

/// Run a script through the real binary; returns (success, stdout lines without subtask
/// prefixes, sorted; stderr).
fn run(dir: &Path, sql: &str, args: &[&str]) -> (bool, Vec<String>, String) {
    let (ok, mut lines, err) = run_in_order(dir, sql, args);
    lines.sort();
    (ok, lines, err)
}

/// [`run`] with stdout lines in output order (a key's changes in order: each key is printed
/// by one subtask).
fn run_in_order(dir: &Path, sql: &str, args: &[&str]) -> (bool, Vec<String>, String) {
    let r = common::run_script(dir, sql, args);
    (r.ok, r.printed.into_iter().map(|(_, row)| row).collect(), r.stderr)
}

fn source(b: &Broker, topic: &str, extra: &str) -> String {
    format!(
        "CREATE TABLE k (id BIGINT, p INT) WITH ('connector' = 'kafka', 'topic' = '{topic}', \
         'properties.bootstrap.servers' = '{}', 'format' = 'json', 'scan.bounded.mode' = 'latest-offset'{extra});\n\
         CREATE TABLE out (id BIGINT, p INT) WITH ('connector' = 'print');\n",
        b.bootstrap
    )
}

fn ids(lines: &[String]) -> Vec<i64> {
    let mut v: Vec<i64> = lines.iter().filter_map(|l| l.strip_prefix("+I[")?.split(',').next()?.trim().parse().ok()).collect();
    v.sort();
    v
}

fn expected(pred: impl Fn(i64, i64) -> bool) -> Vec<i64> {
    let mut v: Vec<i64> = (0..3).flat_map(|p| (0..10).map(move |i| (p, i))).filter(|(p, i)| pred(*p, *i)).map(|(p, i)| p * 100 + i).collect();
    v.sort();
    v
}

#[test]
fn startup_and_bounded_modes_over_three_partitions() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    fill(&b, "modes");
    let q = |extra: &str, p: &str| {
        let (ok, lines, err) = run(dir.path(), &format!("{}INSERT INTO out SELECT * FROM k;", source(&b, "modes", extra)), &["-p", p]);
        assert!(ok, "{extra}: {err}");
        ids(&lines)
    };
    for p in ["1", "2"] {
        assert_eq!(q(", 'scan.startup.mode' = 'earliest-offset'", p), expected(|_, _| true), "earliest at P{p}");
        assert_eq!(q(", 'scan.startup.mode' = 'latest-offset'", p), Vec::<i64>::new(), "latest at P{p}");
        assert_eq!(
            q(", 'scan.startup.mode' = 'specific-offsets', 'scan.startup.specific-offsets' = 'partition:0,offset:7;partition:2,offset:9'", p),
            expected(|part, i| part == 1 || (part == 0 && i >= 7) || (part == 2 && i >= 9)),
            "specific offsets at P{p} (unlisted partitions from the earliest)"
        );
        assert_eq!(q(", 'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '9000'", p), expected(|_, i| i >= 8), "timestamp at P{p}");
        let (ok, lines, err) = run(
            dir.path(),
            &format!(
                "{}INSERT INTO out SELECT * FROM k;",
                source(&b, "modes", ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.timestamp-millis' = '3000'")
                    .replace("'scan.bounded.mode' = 'latest-offset'", "'scan.bounded.mode' = 'timestamp'")
            ),
            &["-p", p],
        );
        assert!(ok, "{err}");
        assert_eq!(ids(&lines), expected(|_, i| i < 2), "bounded by timestamp at P{p}");
    }
    // bounded.mode 'latest-offset' is set in `source`, overridden here by specific offsets.
    let (ok, lines, err) = run(
        dir.path(),
        &format!(
            "{}INSERT INTO out SELECT * FROM k;",
            source(&b, "modes", ", 'scan.startup.mode' = 'earliest-offset'").replace(
                "'scan.bounded.mode' = 'latest-offset'",
                "'scan.bounded.mode' = 'specific-offsets', 'scan.bounded.specific-offsets' = 'partition:0,offset:3;partition:1,offset:0;partition:2,offset:10'"
            )
        ),
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(ids(&lines), expected(|p, i| (p == 0 && i < 3) || p == 2));
}

#[test]
fn group_offsets_read_from_the_committed_offsets() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    fill(&b, "groups");
    // No committed offsets and no reset policy: a clear error.
    let (ok, _, err) = run(dir.path(), &format!("{}INSERT INTO out SELECT * FROM k;", source(&b, "groups", ", 'properties.group.id' = 'g1'")), &[]);
    assert!(!ok);
    assert!(err.contains("has no committed offset for topic 'groups' partition 0") && err.contains("auto.offset.reset"), "{err}");
    // Commit offsets 4 / 6 / 10 for group g1.
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).set("group.id", "g1").create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (p, o) in [(0, 4), (1, 6), (2, 10)] {
        tpl.add_partition_offset("groups", p, Offset::Offset(o)).expect("tpl");
    }
    c.commit(&tpl, rdkafka::consumer::CommitMode::Sync).expect("commit");
    let (ok, lines, err) = run(dir.path(), &format!("{}INSERT INTO out SELECT * FROM k;", source(&b, "groups", ", 'properties.group.id' = 'g1'")), &["-p", "2"]);
    assert!(ok, "{err}");
    assert_eq!(ids(&lines), expected(|p, i| (p == 0 && i >= 4) || (p == 1 && i >= 6)));
    // Without a group, 'group-offsets' (the default mode) asks for one.
    let (ok, _, err) = run(dir.path(), &format!("{}INSERT INTO out SELECT * FROM k;", source(&b, "groups", "")), &[]);
    assert!(!ok && err.contains("needs option 'properties.group.id'"), "{err}");
}

#[test]
fn malformed_records_fail_with_their_position_or_are_skipped() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("bad", 2);
    b.produce("bad", &[(0, 1, "{\"id\": 1, \"p\": 0}".into()), (1, 1, "{\"id\": 2, \"p\": 1}".into()), (1, 2, "{\"id\": oops}".into()), (1, 3, "{\"id\": 3, \"p\": 1}".into())]);
    let (ok, _, err) = run(dir.path(), &format!("{}INSERT INTO out SELECT * FROM k;", source(&b, "bad", ", 'scan.startup.mode' = 'earliest-offset'")), &[]);
    assert!(!ok);
    assert!(err.contains("Kafka topic 'bad', partition 1, offset 1"), "{err}");
    let (ok, lines, err) = run(
        dir.path(),
        &format!("{}INSERT INTO out SELECT * FROM k;", source(&b, "bad", ", 'scan.startup.mode' = 'earliest-offset', 'json.ignore-parse-errors' = 'true'")),
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(ids(&lines), vec![1, 2, 3]);
}

#[test]
fn sink_round_trip_and_savepoint_restores_offsets() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("rt", 3);
    // datagen → kafka (round-robin over 3 partitions), then read back with a window count.
    let (ok, _, err) = run(
        dir.path(),
        &format!(
            "CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '3000', 'fields.id.kind' = 'sequence', \
             'fields.id.start' = '1', 'fields.id.end' = '3000');\n\
             CREATE TABLE k (id BIGINT) WITH ('connector' = 'kafka', 'topic' = 'rt', 'properties.bootstrap.servers' = '{}', \
             'value.format' = 'csv', 'sink.partitioner' = 'round-robin');\n\
             INSERT INTO k SELECT id FROM g;",
            b.bootstrap
        ),
        &["-p", "2"],
    );
    assert!(ok, "{err}");
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).set("group.id", "x").create().expect("consumer");
    let per_partition: BTreeMap<i32, i64> = (0..3).map(|p| (p, c.fetch_watermarks("rt", p, Duration::from_secs(5)).expect("watermarks").1)).collect();
    assert_eq!(per_partition.values().sum::<i64>(), 3000);
    assert!(per_partition.values().all(|n| *n >= 900), "round-robin spreads rows: {per_partition:?}");
    // Offsets in a savepoint: an unbounded job stopped with a savepoint, resumed (bounded, at
    // another parallelism) after more records arrived, reads every record exactly once.
    let sp = dir.path().join("sp");
    let out_dir = dir.path().join("out");
    let sql = |bounded: &str| {
        format!(
            "SET 'execution.checkpointing.interval' = '100ms';\nSET 'execution.checkpointing.dir' = '{}';\n\
             CREATE TABLE k (id BIGINT) WITH ('connector' = 'kafka', 'topic' = 'rt', 'properties.bootstrap.servers' = '{}', \
             'value.format' = 'csv', 'scan.startup.mode' = 'earliest-offset'{bounded});\n\
             CREATE TABLE o (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO o SELECT id FROM k;",
            dir.path().join("chk").display(),
            b.bootstrap,
            out_dir.display()
        )
    };
    let path = dir.path().join("unbounded.sql");
    std::fs::write(&path, sql("")).expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", &path.to_string_lossy(), "-p", "2", "--progress", "none", "--savepoint-dir", &sp.to_string_lossy()])
        .spawn()
        .expect("spawn");
    let committed = || -> Vec<i64> {
        let mut got = Vec::new();
        for e in std::fs::read_dir(&out_dir).into_iter().flatten().flatten() {
            if !e.file_name().to_string_lossy().starts_with('.') {
                got.extend(std::fs::read_to_string(e.path()).unwrap_or_default().lines().filter_map(|l| l.trim().parse::<i64>().ok()));
            }
        }
        got.sort();
        got
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed().len() < 3000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(child.wait().expect("wait").success(), "stop with savepoint");
    assert_eq!(committed(), (1..=3000).collect::<Vec<i64>>());
    let savepoint = std::fs::read_dir(&sp).expect("savepoint dir").flatten().next().expect("a savepoint").path();
    b.produce("rt", &(3001..=3600).map(|i| ((i % 3) as i32, 1, i.to_string())).collect::<Vec<_>>());
    let (ok, _, err) = run(dir.path(), &sql(", 'scan.bounded.mode' = 'latest-offset'"), &["-p", "3", "-s", &savepoint.to_string_lossy()]);
    assert!(ok, "{err}");
    assert!(err.contains("savepoint") || err.contains("resum") || err.contains("restor"), "{err}");
    assert_eq!(committed(), (1..=3600).collect::<Vec<i64>>(), "every record exactly once across the stop and the resume");
}

#[test]
fn an_unreachable_broker_fails_within_the_timeout() {
    let dir = tempfile::tempdir().expect("tmp");
    let started = Instant::now();
    let (ok, _, err) = run(
        dir.path(),
        "CREATE TABLE k (id BIGINT) WITH ('connector' = 'kafka', 'topic' = 't', 'properties.bootstrap.servers' = '127.0.0.1:1', \
         'properties.default.api.timeout.ms' = '2000', 'format' = 'json', 'scan.startup.mode' = 'earliest-offset');\n\
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'print');\nINSERT INTO out SELECT * FROM k;",
        &[],
    );
    assert!(!ok);
    assert!(err.contains("cannot read the metadata of Kafka brokers '127.0.0.1:1' within 2 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}


/// Per-partition watermarks (Flink's per-split watermarks): partition 1 gets its rows 2 s
/// after partition 0 got rows up to 20 s of event time. Without an idle timeout partition 1
/// holds the watermark back, so its rows are on time; with a 500 ms idle timeout it is idle
/// meanwhile, the watermark follows partition 0 and partition 1's rows come late (dropped).
#[test]
fn per_partition_watermarks_and_idle_partitions() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    let run_case = |topic: &str, idle: &str| -> Vec<String> {
        b.topic(topic, 2);
        let sql = format!(
            "{idle}CREATE TABLE k (t BIGINT, ts AS TO_TIMESTAMP_LTZ(t, 3), WATERMARK FOR ts AS ts) WITH ('connector' = 'kafka', \
             'topic' = '{topic}', 'properties.bootstrap.servers' = '{}', 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', \
             'scan.bounded.mode' = 'specific-offsets', 'scan.bounded.specific-offsets' = 'partition:0,offset:11;partition:1,offset:3');\n\
             CREATE TABLE out (w TIMESTAMP_LTZ(3), n BIGINT) WITH ('connector' = 'print');\n\
             INSERT INTO out SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE k, DESCRIPTOR(ts), INTERVAL '2' SECOND)) \
             GROUP BY window_start, window_end;",
            b.bootstrap
        );
        let path = dir.path().join(format!("{topic}.sql"));
        std::fs::write(&path, sql).expect("script");
        let child = Command::new(env!("CARGO_BIN_EXE_rask"))
            .args(["run", &path.to_string_lossy(), "--progress", "none"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(800));
        let p0: Vec<(i32, i64, String)> = (1..=10).chain([20]).map(|s| (0, 1, format!("{{\"t\": {}}}", s * 1000))).collect();
        b.produce(topic, &p0);
        std::thread::sleep(Duration::from_millis(2000));
        b.produce(topic, &[1500, 2500, 3500].map(|t| (1, 1, format!("{{\"t\": {t}}}"))));
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("+I")).map(str::to_string).collect();
        lines.sort();
        lines
    };
    let counts = |lines: &[String]| lines.iter().map(|l| l.trim_end_matches(']').rsplit(", ").next().unwrap_or("").to_string()).collect::<Vec<_>>().join(",");
    let held = run_case("wm_held", "SET 'table.local-time-zone' = 'UTC';\n");
    assert_eq!(counts(&held), "2,4,2,2,2,1,1", "{held:?}");
    let idle = run_case("wm_idle", "SET 'table.local-time-zone' = 'UTC';\nSET 'table.exec.source.idle-timeout' = '500 ms';\n");
    assert_eq!(counts(&idle), "1,2,2,2,2,1,1", "{idle:?}");
}

/// The raw format: each record's bytes are the single column's value; a tombstone (null
/// message) is a NULL row, as in Flink.
#[test]
fn raw_format_reads_values_and_tombstones() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("raw", 1);
    b.produce("raw", &[(0, 1, "first line".into()), (0, 2, String::new())]);
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).create().expect("producer");
    p.send(BaseRecord::<(), str>::to("raw").partition(0)).expect("tombstone");
    p.flush(Duration::from_secs(10)).expect("flush");
    let (ok, stdout, err) = run(
        dir.path(),
        &format!(
            "CREATE TABLE k (line STRING) WITH ('connector' = 'kafka', 'topic' = 'raw', 'properties.bootstrap.servers' = '{}', \
             'format' = 'raw', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');\n\
             CREATE TABLE out (line STRING, n INT) WITH ('connector' = 'print');\n\
             INSERT INTO out SELECT line, CHAR_LENGTH(line) FROM k;",
            b.bootstrap
        ),
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(stdout, vec!["+I[, 0]", "+I[first line, 10]", "+I[null, null]"]);
}

/// Every record of `topic` a read_committed consumer sees, from the beginning up to the end of
/// each partition, sorted.
fn committed_records(b: &Broker, topic: &str) -> Vec<String> {
    let mut out: Vec<String> = raw_records(b, topic).into_iter().map(|r| String::from_utf8_lossy(&r.2.unwrap_or_default()).to_string()).collect();
    out.sort();
    out
}

/// Produce `n` records {"id": i, "ts": i * 10} round-robin over 3 partitions, `per_s` records
/// per second, on a thread.
fn produce_paced(b: &Broker, topic: &str, n: i64, per_s: i64) -> std::thread::JoinHandle<()> {
    let bootstrap = b.bootstrap.clone();
    let topic = topic.to_string();
    std::thread::spawn(move || {
        let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &bootstrap).set("linger.ms", "1").create().expect("producer");
        let start = Instant::now();
        for i in 0..n {
            let payload = format!("{{\"id\": {i}, \"ts\": {}}}", i * 10);
            p.send(BaseRecord::<(), str>::to(&topic).partition((i % 3) as i32).payload(&payload)).expect("send");
            if i % 50 == 0 {
                p.poll(Duration::ZERO);
                let due = Duration::from_micros((i * 1_000_000 / per_s) as u64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        p.flush(Duration::from_secs(30)).expect("flush");
    })
}

/// Kafka → tumbling-window aggregation → Kafka (exactly-once): `n` input records over 3
/// partitions, bounded at their end offsets; `extra` adds SET lines (checkpoints).
fn window_job(b: &Broker, dir: &Path, output: &str, delivery: &str, n: i64, interval: Option<&str>) -> String {
    let per = |p: i64| (n - p + 2) / 3;
    let chk = interval.map_or(String::new(), |i| {
        format!("SET 'execution.checkpointing.interval' = '{i}';\nSET 'execution.checkpointing.dir' = '{}';\n", dir.join(format!("chk-{output}")).display())
    });
    format!(
        "{chk}\
         SET 'restart-strategy.type' = 'fixed-delay';\nSET 'restart-strategy.fixed-delay.attempts' = '1000';\n\
         SET 'restart-strategy.fixed-delay.delay' = '50ms';\n\
         CREATE TABLE events (id BIGINT, ts BIGINT, rt AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR rt AS rt - INTERVAL '1' SECOND) \
           WITH ('connector' = 'kafka', 'topic' = 'events', 'properties.bootstrap.servers' = '{bs}', 'format' = 'json', \
           'properties.isolation.level' = 'read_committed', 'scan.startup.mode' = 'earliest-offset', \
           'scan.bounded.mode' = 'specific-offsets', \
           'scan.bounded.specific-offsets' = 'partition:0,offset:{};partition:1,offset:{};partition:2,offset:{}');\n\
         CREATE TABLE results (k BIGINT, ws TIMESTAMP(3), c BIGINT, s BIGINT, mx BIGINT) \
           WITH ('connector' = 'kafka', 'topic' = '{output}', 'properties.bootstrap.servers' = '{bs}', 'format' = 'json', \
           'sink.delivery-guarantee' = '{delivery}', 'sink.transactional-id-prefix' = 'rask-{output}');\n\
         INSERT INTO results SELECT id % 7, window_start, COUNT(*), SUM(id), MAX(id) \
           FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' SECOND)) GROUP BY id % 7, window_start, window_end;\n",
        per(0),
        per(1),
        per(2),
        bs = b.bootstrap,
    )
}

/// The job's output without failures, checkpoints or transactions.
fn window_reference(b: &Broker, dir: &Path, n: i64) -> Vec<String> {
    b.topic("reference", 2);
    let (ok, _, err) = run(dir, &window_job(b, dir, "reference", "at-least-once", n, None), &[]);
    assert!(ok, "reference run: {err}");
    let r = committed_records(b, "reference");
    assert_eq!(r.len() as i64, 7 * (n * 10 / 1000), "one row per key and second");
    r
}

/// A broker with the `events` input arriving (`n` records, 6000/s) and the exactly-once
/// window job's script (checkpoints every `interval`) writing to `results`.
fn exactly_once_job(n: i64, interval: &str) -> (Broker, tempfile::TempDir, std::thread::JoinHandle<()>, std::path::PathBuf) {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("events", 3);
    b.topic("results", 2);
    let producer = produce_paced(&b, "events", n, 6_000);
    let script = dir.path().join("eos.sql");
    std::fs::write(&script, window_job(&b, dir.path(), "results", "exactly-once", n, Some(interval))).expect("script");
    (b, dir, producer, script)
}

/// The checkpoint issue's chaos test with Kafka on both ends: the worker processes are killed
/// (SIGKILL) 5 times at random moments while the input arrives; a read_committed reader of
/// the output must then see exactly the failure-free result: nothing lost, nothing twice.
#[test]
fn exactly_once_kafka_to_window_aggregation_to_kafka_under_kills() {
    let seed = std::env::var("RASK_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rask_types::now_ms() as u64 | 1);
    let mut rng = seed;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        Duration::from_millis(lo + rng % (hi - lo))
    };
    const N: i64 = 48_000;
    let (b, dir, producer, script) = exactly_once_job(N, "200ms");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", &script.to_string_lossy(), "-p", "2", "--progress", "none"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut kills = 0;
    while kills < 5 {
        std::thread::sleep(next(300, 1200));
        assert!(child.try_wait().expect("wait").is_none(), "seed {seed}: the job ended after {kills} kills");
        let workers = common::children_of(child.id());
        if let Some(w) = workers.first() {
            let _ = Command::new("kill").args(["-9", &w.to_string()]).status();
            kills += 1;
        }
    }
    producer.join().expect("producer");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "seed {seed}: {}", String::from_utf8_lossy(&out.stderr));
    let got = committed_records(&b, "results");
    let want = window_reference(&b, dir.path(), N);
    assert_eq!(got.len(), want.len(), "seed {seed}: committed rows vs failure-free rows");
    assert_eq!(got, want, "seed {seed}");
}

/// A failure after a checkpoint completed but before its transaction committed (the one
/// moment librdkafka cannot recover by itself): the restored sink finds the transaction's
/// marker missing and produces the checkpointed records again, exactly once.
#[test]
fn exactly_once_sink_recovers_a_transaction_left_uncommitted() {
    const N: i64 = 18_000;
    let (b, dir, producer, script) = exactly_once_job(N, "300ms");
    let fired = dir.path().join("fired");
    let out = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", &script.to_string_lossy(), "--progress", "none"])
        .env("RASK_FAILPOINT", format!("kafka-sink-before-commit:{}", fired.display()))
        .env("RASK_LOG", "info")
        .output()
        .expect("run");
    producer.join().expect("producer");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(fired.exists() && err.contains("failpoint 'kafka-sink-before-commit' reached"), "{err}");
    assert!(err.contains("re-producing the records of a transaction the failure left uncommitted"), "{err}");
    let got = committed_records(&b, "results");
    assert_eq!(got, window_reference(&b, dir.path(), N));
}

/// Exactly-once needs a transactional id prefix (as in Flink).
#[test]
fn exactly_once_requires_a_transactional_id_prefix() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("o", 1);
    let (ok, _, err) = run(
        dir.path(),
        &format!(
            "CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '3');\n\
             CREATE TABLE k (id BIGINT) WITH ('connector' = 'kafka', 'topic' = 'o', 'properties.bootstrap.servers' = '{}', \
             'format' = 'json', 'sink.delivery-guarantee' = 'exactly-once');\nINSERT INTO k SELECT id FROM g;",
            b.bootstrap
        ),
        &[],
    );
    assert!(!ok);
    assert!(err.contains("requires option 'sink.transactional-id-prefix'"), "{err}");
}

/// Metadata columns (Flink's Kafka metadata keys), read-only (VIRTUAL) or cast to the
/// declared type, and one as the rowtime; unknown keys and writing them are errors.
#[test]
fn metadata_columns_read_topic_partition_offset_timestamp_and_headers() {
    use rdkafka::message::{Header, OwnedHeaders};
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("meta", 2);
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).create().expect("producer");
    p.send(BaseRecord::<(), str>::to("meta").partition(0).timestamp(1000).payload("{\"id\": 1}")).expect("send");
    p.send(
        BaseRecord::<(), str>::to("meta")
            .partition(1)
            .timestamp(2500)
            .payload("{\"id\": 2}")
            .headers(OwnedHeaders::new().insert(Header { key: "trace", value: Some("abc") }).insert(Header { key: "empty", value: None::<&str> })),
    )
    .expect("send");
    p.send(BaseRecord::<(), str>::to("meta").partition(1).timestamp(4000).payload("{\"id\": 3}")).expect("send");
    p.flush(Duration::from_secs(10)).expect("flush");
    let table = |cols: &str| {
        format!(
            "SET 'table.local-time-zone' = 'UTC';\n\
             CREATE TABLE k (id BIGINT, {cols}) WITH ('connector' = 'kafka', 'topic' = 'meta', \
             'properties.bootstrap.servers' = '{}', 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', \
             'scan.bounded.mode' = 'latest-offset');\n",
            b.bootstrap
        )
    };
    let (ok, lines, err) = run(
        dir.path(),
        &format!(
            "{}CREATE TABLE out (id BIGINT, t STRING, p INT, o BIGINT, ts TIMESTAMP_LTZ(3), o2 STRING, tt STRING, n INT, tr STRING) \
               WITH ('connector' = 'print');\n\
             INSERT INTO out SELECT id, `topic`, `partition`, off, ts, off_text, tt, CARDINALITY(hs), CAST(hs['trace'] AS STRING) FROM k;",
            table(
                "`topic` STRING METADATA VIRTUAL, `partition` INT METADATA VIRTUAL, off BIGINT METADATA FROM 'offset' VIRTUAL, \
                 off_text STRING METADATA FROM 'offset' VIRTUAL, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', \
                 tt STRING METADATA FROM 'timestamp-type' VIRTUAL, hs MAP<STRING, BYTES> METADATA FROM 'headers' VIRTUAL, \
                 WATERMARK FOR ts AS ts - INTERVAL '1' SECOND"
            )
        ),
        &["-p", "2"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        lines,
        vec![
            "+I[1, meta, 0, 0, 1970-01-01T00:00:01Z, 0, CreateTime, 0, null]",
            "+I[2, meta, 1, 0, 1970-01-01T00:00:02.500Z, 0, CreateTime, 2, abc]",
            "+I[3, meta, 1, 1, 1970-01-01T00:00:04Z, 1, CreateTime, 0, null]",
        ]
    );
    // The timestamp as event time: a window count over it.
    let (ok, lines, err) = run(
        dir.path(),
        &format!(
            "{}CREATE TABLE out (w TIMESTAMP_LTZ(3), n BIGINT) WITH ('connector' = 'print');\n\
             INSERT INTO out SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE k, DESCRIPTOR(ts), INTERVAL '2' SECOND)) \
             GROUP BY window_start, window_end;",
            table("ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL, WATERMARK FOR ts AS ts")
        ),
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(lines, vec!["+I[1970-01-01T00:00:00Z, 1]", "+I[1970-01-01T00:00:02Z, 1]", "+I[1970-01-01T00:00:04Z, 1]"]);
    // Bad keys name the column and list the keys; writing metadata is refused.
    let (ok, _, err) = run(dir.path(), &format!("{}SELECT 1;", table("x BIGINT METADATA FROM 'offsett'")), &[]);
    assert!(!ok && err.contains("metadata column 'x': connector 'kafka' has no metadata key 'offsett'; available: 'topic' STRING NOT NULL"), "{err}");
    let (ok, _, err) = run(
        dir.path(),
        &format!("{}CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');\nINSERT INTO k SELECT id, 5 FROM g;", table("off BIGINT METADATA FROM 'offset'")),
        &[],
    );
    assert!(!ok && err.contains("metadata column 'off' (key 'offset') of table 'k' cannot be written: connector 'kafka' writes the metadata keys 'headers'"), "{err}");
}

/// With a group id, offsets in completed checkpoints are committed to the group (for
/// monitoring, as Flink's `commit.offsets.on.checkpoint`).
#[test]
fn checkpointed_offsets_are_committed_to_the_group() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    fill(&b, "mon");
    let path = dir.path().join("mon.sql");
    std::fs::write(
        &path,
        format!(
            "SET 'execution.checkpointing.interval' = '100ms';\nSET 'execution.checkpointing.dir' = '{}';\n{}INSERT INTO out SELECT * FROM k;",
            dir.path().join("chk").display(),
            source(&b, "mon", ", 'properties.group.id' = 'monitor', 'scan.startup.mode' = 'earliest-offset'").replace(", 'scan.bounded.mode' = 'latest-offset'", "")
        ),
    )
    .expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", &path.to_string_lossy(), "-p", "2", "--progress", "none"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).set("group.id", "monitor").create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition("mon", p);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        got = c
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .expect("committed")
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            })
            .collect();
        if got == vec![10, 10, 10] {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, vec![10, 10, 10], "committed offsets of group 'monitor'");
}

/// Partition discovery: partitions added to a topic and topics matching the pattern created
/// while an unbounded job runs are read from their earliest offset, each by one subtask.
#[test]
fn new_partitions_and_topics_are_discovered() {
    use std::io::Read;
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("disc-a", 1);
    b.produce("disc-a", &[(0, 1, "{\"id\": 1, \"p\": 0}".into())]);
    let path = dir.path().join("disc.sql");
    std::fs::write(
        &path,
        format!(
            "CREATE TABLE k (id BIGINT, p INT) WITH ('connector' = 'kafka', 'topic-pattern' = 'disc-.*', \
             'properties.bootstrap.servers' = '{}', 'format' = 'json', 'scan.startup.mode' = 'earliest-offset', \
             'scan.topic-partition-discovery.interval' = '200 ms');\n\
             CREATE TABLE out (id BIGINT, p INT) WITH ('connector' = 'print');\nINSERT INTO out SELECT * FROM k;",
            b.bootstrap
        ),
    )
    .expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["run", &path.to_string_lossy(), "-p", "2", "--progress", "none"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).create().expect("admin");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in futures::executor::block_on(admin.create_partitions([&rdkafka::admin::NewPartitions::new("disc-a", 3)], &opts)).expect("add partitions") {
        r.expect("partitions added");
    }
    b.topic("disc-b", 2);
    b.produce("disc-a", &[(1, 1, "{\"id\": 2, \"p\": 1}".into()), (2, 1, "{\"id\": 3, \"p\": 2}".into())]);
    b.produce("disc-b", &[(0, 1, "{\"id\": 4, \"p\": 0}".into()), (1, 1, "{\"id\": 5, \"p\": 1}".into())]);
    std::thread::sleep(Duration::from_millis(2500));
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read");
    let lines: Vec<String> = out.lines().filter(|l| l.contains("+I[")).map(|l| l.split_once("> ").map_or(l, |(_, r)| r).to_string()).collect();
    assert_eq!(ids(&lines), vec![1, 2, 3, 4, 5], "{lines:?}");
}

/// Record keys (`key.format`, `key.fields`, `key.fields-prefix`, `value.fields-include`): the
/// sink writes the key columns into the key (murmur2-partitioned like the Java client, so one
/// key stays in one partition) and, with EXCEPT_KEY, leaves them out of the value; the source
/// reads them back, a record without a key giving NULL key columns.
#[test]
fn record_keys_are_written_and_read() {
    use rdkafka::message::Message;
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("keyed", 3);
    let table = |extra: &str| {
        format!(
            "CREATE TABLE k (k_user STRING, k_region INT, amount BIGINT) WITH ('connector' = 'kafka', 'topic' = 'keyed', \
             'properties.bootstrap.servers' = '{}', 'format' = 'json', 'key.format' = 'json', 'key.fields' = 'k_user;k_region', \
             'key.fields-prefix' = 'k_', 'value.fields-include' = 'EXCEPT_KEY'{extra});\n",
            b.bootstrap
        )
    };
    let (ok, _, err) = run(
        dir.path(),
        &format!(
            "{}CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '60', 'fields.id.kind' = 'sequence', \
             'fields.id.start' = '1', 'fields.id.end' = '60');\n\
             INSERT INTO k SELECT CONCAT('u', CAST(id % 4 AS STRING)), CAST(id % 2 AS INT), id FROM g;",
            table("")
        ),
        &["-p", "2"],
    );
    assert!(ok, "{err}");
    // One more record without a key.
    b.produce("keyed", &[(0, 1, "{\"amount\": 1000}".into())]);
    // Raw records: keys are JSON of the key columns without the prefix; values lack them; one
    // key, one partition.
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).set("group.id", "raw").create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset("keyed", p, Offset::Beginning).expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut seen: BTreeMap<String, std::collections::BTreeSet<i32>> = BTreeMap::new();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while n < 61 && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("record");
            n += 1;
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            assert!(v.starts_with("{\"amount\":") && !v.contains("user"), "value {v}");
            if let Some(k) = m.key() {
                seen.entry(String::from_utf8_lossy(k).to_string()).or_default().insert(m.partition());
            }
        }
    }
    assert_eq!(n, 61);
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), vec![
        "{\"user\":\"u0\",\"region\":0}".to_string(),
        "{\"user\":\"u1\",\"region\":1}".to_string(),
        "{\"user\":\"u2\",\"region\":0}".to_string(),
        "{\"user\":\"u3\",\"region\":1}".to_string(),
    ]);
    assert!(seen.values().all(|p| p.len() == 1), "one partition per key: {seen:?}");
    // Read back through the source.
    let (ok, lines2, err2) = run(
        dir.path(),
        &format!(
            "{}CREATE TABLE out (u STRING, r INT, a BIGINT) WITH ('connector' = 'print');\n\
             INSERT INTO out SELECT k_user, k_region, amount FROM k WHERE amount IN (1, 2, 3, 4, 1000);",
            table(", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'")
        ),
        &["-p", "2"],
    );
    assert!(ok, "{err2}");
    assert_eq!(lines2, vec!["+I[null, null, 1000]", "+I[u0, 0, 4]", "+I[u1, 1, 1]", "+I[u2, 0, 2]", "+I[u3, 1, 3]"]);
    // Bad key declarations are named.
    let (ok, _, err) = run(dir.path(), &format!("{}SELECT 1;", table("").replace("'key.fields' = 'k_user;k_region'", "'key.fields' = 'k_user;k_nope'")), &[]);
    assert!(!ok && err.contains("option 'key.fields': 'k_nope' is not a physical column"), "{err}");
    let (ok, _, err) = run(dir.path(), &format!("{}SELECT 1;", table("").replace(", 'value.fields-include' = 'EXCEPT_KEY'", "")), &[]);
    assert!(!ok && err.contains("'key.fields-prefix' needs option 'value.fields-include' = 'EXCEPT_KEY'"), "{err}");
}

/// debezium-json from Kafka into a changelog, aggregated, written back to Kafka as debezium-json
/// and read again. Expected rows: Flink 2.3's for the same records (with a filesystem source).
#[test]
fn debezium_json_round_trip_through_a_group_aggregation() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("cdc", 1);
    b.topic("cdc_out", 2);
    // Debezium records of a products table and Flink 2.3's changelog for them (shared with the
    // format's unit test).
    let recs: Vec<&str> = include_str!("../../../tests/data/debezium-products.json").lines().collect();
    let changelog = include_str!("../../../tests/data/debezium-products.changelog");
    b.produce("cdc", &recs.iter().enumerate().map(|(i, r)| (0, 1000 + i as i64, r.to_string())).collect::<Vec<_>>());
    let table = |name: &str, topic: &str| {
        format!(
            "CREATE TABLE {name} (id BIGINT, name STRING, weight DOUBLE) WITH ('connector' = 'kafka', 'topic' = '{topic}', \
             'properties.bootstrap.servers' = '{}', 'format' = 'debezium-json', 'scan.startup.mode' = 'earliest-offset', \
             'scan.bounded.mode' = 'latest-offset');\n",
            b.bootstrap
        )
    };
    // The changelog as read.
    let (ok, rows, err) = run(dir.path(), &format!("{}CREATE TABLE p (id BIGINT, name STRING, weight DOUBLE) WITH ('connector' = 'print');\nINSERT INTO p SELECT * FROM src;", table("src", "cdc")), &[]);
    assert!(ok, "{err}");
    let mut want: Vec<&str> = changelog.lines().collect();
    want.sort();
    assert_eq!(rows, want);
    // Aggregated and written as debezium-json.
    let sql = format!(
        "{}CREATE TABLE dst (name STRING, w DOUBLE, n BIGINT) WITH ('connector' = 'kafka', 'topic' = 'cdc_out', \
         'properties.bootstrap.servers' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO dst SELECT name, SUM(weight), COUNT(*) FROM src GROUP BY name;",
        table("src", "cdc"),
        b.bootstrap
    );
    let (ok, _, err) = run(dir.path(), &sql, &["-p", "2"]);
    assert!(ok, "{err}");
    let mut want = vec![
        r#"{"before":null,"after":{"name":"scooter","w":3.14,"n":1},"op":"c"}"#,
        r#"{"before":null,"after":{"name":"car battery","w":8.1,"n":1},"op":"c"}"#,
        r#"{"before":{"name":"scooter","w":3.14,"n":1},"after":null,"op":"d"}"#,
        r#"{"before":null,"after":{"name":"scooter","w":5.18,"n":1},"op":"c"}"#,
        r#"{"before":null,"after":{"name":"hammer","w":0.75,"n":1},"op":"c"}"#,
        r#"{"before":{"name":"car battery","w":8.1,"n":1},"after":null,"op":"d"}"#,
        r#"{"before":{"name":"hammer","w":0.75,"n":1},"after":null,"op":"d"}"#,
        r#"{"before":null,"after":{"name":"hammer","w":1.0,"n":1},"op":"c"}"#,
    ];
    want.sort();
    assert_eq!(committed_records(&b, "cdc_out"), want);
    // A changelog into an append-only format is refused before the job starts.
    let sql = format!(
        "{}CREATE TABLE plain (name STRING, n BIGINT) WITH ('connector' = 'kafka', 'topic' = 'cdc_out', \
         'properties.bootstrap.servers' = '{}', 'format' = 'json');\n\
         INSERT INTO plain SELECT name, COUNT(*) FROM src GROUP BY name;",
        table("src", "cdc"),
        b.bootstrap
    );
    let (ok, _, err) = run(dir.path(), &sql, &[]);
    assert!(!ok && err.contains("doesn't support consuming update changes"), "{err}");
}

/// A record as read back: partition, key, value (`None`: tombstone), timestamp, headers.
type RawRecord = (i32, Option<String>, Option<Vec<u8>>, i64, Vec<(String, Option<String>)>);

/// Every record of `topic`, per partition in offset order (read_committed).
fn raw_records(b: &Broker, topic: &str) -> Vec<RawRecord> {
    use rdkafka::message::{Headers, Message};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", "raw-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in &parts {
        tpl.add_partition_offset(topic, *p, Offset::Beginning).expect("tpl");
        ends.insert(*p, c.fetch_watermarks(topic, *p, Duration::from_secs(10)).expect("watermarks").1);
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("read");
            let headers = m
                .headers()
                .map(|h| h.iter().map(|h| (h.key.to_string(), h.value.map(|v| String::from_utf8_lossy(v).to_string()))).collect())
                .unwrap_or_default();
            out.push((
                m.partition(),
                m.key().map(|k| String::from_utf8_lossy(k).to_string()),
                m.payload().map(<[u8]>::to_vec),
                m.timestamp().to_millis().unwrap_or(-1),
                headers,
            ));
        }
        let pos = c.position().expect("position");
        let done = parts.iter().all(|p| match pos.find_partition(topic, *p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o >= ends[p],
            _ => ends[p] == 0,
        });
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "reading '{topic}' did not reach the end offsets {ends:?}");
    }
    out.sort_by_key(|r| r.0); // stable: offset order within a partition
    out
}

/// Apply a printed changelog (`+I[k, …]` etc., keyed by the first field) to a table.
fn materialize(lines: &[String]) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    for l in lines {
        let (kind, row) = l.split_at(2);
        let row = row.trim_start_matches('[').trim_end_matches(']').to_string();
        let key = row.split(',').next().unwrap_or_default().to_string();
        match kind {
            "+I" | "+U" => {
                t.insert(key, row);
            }
            _ => {
                t.remove(&key);
            }
        }
    }
    t
}

/// upsert-kafka: a changelog (a GROUP BY over debezium-json) written as upserts keyed by the
/// primary key with tombstones for deletes; read back as a changelog (ChangelogNormalize: the
/// delete carries the whole last row, a repeated upsert changes nothing, a tombstone of an
/// unknown key is ignored); the sink buffer keeps only the last change per key.
#[test]
fn upsert_kafka_round_trip_with_tombstones() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("cdc", 1);
    b.topic("up", 3);
    let recs: Vec<&str> = include_str!("../../../tests/data/debezium-products.json").lines().collect();
    b.produce("cdc", &recs.iter().enumerate().map(|(i, r)| (0, 1000 + i as i64, r.to_string())).collect::<Vec<_>>());
    let src = format!(
        "CREATE TABLE src (id BIGINT, name STRING, weight DOUBLE) WITH ('connector' = 'kafka', 'topic' = 'cdc', \
         'properties.bootstrap.servers' = '{}', 'format' = 'debezium-json', 'scan.startup.mode' = 'earliest-offset', \
         'scan.bounded.mode' = 'latest-offset');\n",
        b.bootstrap
    );
    let up = |topic: &str, extra: &str| {
        format!(
            "CREATE TABLE up (name STRING, w DOUBLE, n BIGINT, PRIMARY KEY (name) NOT ENFORCED) WITH ('connector' = 'upsert-kafka', \
             'topic' = '{topic}', 'properties.bootstrap.servers' = '{}', 'key.format' = 'json', 'value.format' = 'json'{extra});\n",
            b.bootstrap
        )
    };
    let (ok, _, err) = run(dir.path(), &format!("{src}{}INSERT INTO up SELECT name, SUM(weight), COUNT(*) FROM src GROUP BY name;", up("up", "")), &["-p", "2"]);
    assert!(ok, "{err}");
    // The topic: one record per change (no -U), keyed by the primary key, a tombstone per
    // delete; a key's records in one partition; the last record per key is the final table.
    let recs = raw_records(&b, "up");
    let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut partitions: BTreeMap<String, std::collections::BTreeSet<i32>> = BTreeMap::new();
    for (p, k, v, _, _) in &recs {
        let k = k.clone().expect("every record has a key");
        partitions.entry(k.clone()).or_default().insert(*p);
        last.insert(k, v.as_ref().map(|v| String::from_utf8_lossy(v).to_string()));
    }
    assert!(partitions.values().all(|p| p.len() == 1), "{partitions:?}");
    assert_eq!(
        last,
        BTreeMap::from([
            ("{\"name\":\"car battery\"}".to_string(), None),
            ("{\"name\":\"hammer\"}".to_string(), Some("{\"name\":\"hammer\",\"w\":1.0,\"n\":1}".to_string())),
            ("{\"name\":\"scooter\"}".to_string(), Some("{\"name\":\"scooter\",\"w\":5.18,\"n\":1}".to_string())),
        ])
    );
    assert_eq!(recs.iter().filter(|r| r.2.is_none()).count(), 3, "one tombstone per delete: {recs:?}");
    // Read back: the changelog materialises to the final table; the delete carries the row.
    let read = |extra: &str, query: &str| {
        run_in_order(
            dir.path(),
            &format!(
                "{}CREATE TABLE out (name STRING, w DOUBLE, n BIGINT) WITH ('connector' = 'print');\nINSERT INTO out {query};",
                up("up", &format!(", 'scan.bounded.mode' = 'latest-offset'{extra}"))
            ),
            &["-p", "2"],
        )
    };
    let (ok, lines, err) = read("", "SELECT * FROM up");
    assert!(ok, "{err}");
    assert!(lines.contains(&"-D[car battery, 8.1, 1]".to_string()), "{lines:?}");
    assert_eq!(
        materialize(&lines).into_values().collect::<Vec<_>>(),
        vec!["hammer, 1.0, 1".to_string(), "scooter, 5.18, 1".to_string()]
    );
    // An aggregate over it retracts what the topic deletes.
    let (ok, lines, err) = read("", "SELECT 'all', SUM(w), COUNT(*) FROM up");
    assert!(ok, "{err}");
    assert_eq!(materialize(&lines).into_values().collect::<Vec<_>>(), vec!["all, 6.18, 2".to_string()]);
    // Records produced by hand: a repeated upsert emits nothing, an unknown key's tombstone
    // nothing, a known key's tombstone the whole row (Flink's ChangelogNormalize).
    b.topic("hand", 1);
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &b.bootstrap).create().expect("producer");
    let send = |k: &str, v: Option<&str>| {
        let key = format!("{{\"name\":\"{k}\"}}");
        let mut r = BaseRecord::<str, str>::to("hand").partition(0).key(&key);
        if let Some(v) = v {
            r = r.payload(v);
        }
        p.send(r).expect("send");
    };
    send("a", Some(r#"{"name":"a","w":1.0,"n":1}"#));
    send("b", Some(r#"{"name":"b","w":2.0,"n":1}"#));
    send("a", Some(r#"{"name":"a","w":3.0,"n":2}"#));
    send("a", Some(r#"{"name":"a","w":3.0,"n":2}"#));
    send("b", None);
    send("ghost", None);
    send("b", Some(r#"{"name":"b","w":5.0,"n":1}"#));
    p.flush(Duration::from_secs(10)).expect("flush");
    let (ok, lines, err) = run(
        dir.path(),
        &format!(
            "{}CREATE TABLE out (name STRING, w DOUBLE, n BIGINT) WITH ('connector' = 'print');\nINSERT INTO out SELECT * FROM up;",
            up("hand", ", 'scan.bounded.mode' = 'latest-offset'")
        ),
        &[],
    );
    assert!(ok, "{err}");
    let mut want = vec!["+I[a, 1.0, 1]", "+I[b, 2.0, 1]", "-U[a, 1.0, 1]", "+U[a, 3.0, 2]", "-D[b, 2.0, 1]", "+I[b, 5.0, 1]"];
    want.sort();
    assert_eq!(lines, want);
    // EXPLAIN shows the normalisation keyed by the primary key.
    let script = dir.path().join("explain.sql");
    std::fs::write(&script, format!("{}CREATE TABLE o (name STRING, w DOUBLE, n BIGINT) WITH ('connector' = 'print');\nINSERT INTO o SELECT * FROM up WHERE n > 1;", up("hand", ""))).expect("script");
    let out = Command::new(env!("CARGO_BIN_EXE_rask")).arg("explain").arg(&script).output().expect("explain");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("ChangelogNormalize(key=[name])") && plan.contains("Exchange(distribution=[hash[name]])"), "{plan}{}", String::from_utf8_lossy(&out.stderr));
    // With the sink buffer, only the last change per key within a flush is written.
    b.topic("up_buffered", 1);
    let (ok, _, err) = run(
        dir.path(),
        &format!(
            "{src}{}INSERT INTO up SELECT name, SUM(weight), COUNT(*) FROM src GROUP BY name;",
            up("up_buffered", ", 'sink.buffer-flush.max-rows' = '1000', 'sink.buffer-flush.interval' = '1 min'")
        ),
        &[],
    );
    assert!(ok, "{err}");
    let recs = raw_records(&b, "up_buffered");
    assert_eq!(recs.len(), 3, "{recs:?}");
    // Mistakes are named.
    let bad = |ddl: String, want: &str| {
        let (ok, _, err) = run(dir.path(), &format!("{ddl}SELECT 1;"), &[]);
        assert!(!ok && err.contains(want), "{want}: {err}");
    };
    bad(up("up", "").replace(", PRIMARY KEY (name) NOT ENFORCED", ""), "'upsert-kafka' tables require to define a PRIMARY KEY constraint");
    bad(up("up", "").replace("'value.format' = 'json'", "'value.format' = 'debezium-json'"), "value.format");
    bad(up("up", ", 'scan.startup.mode' = 'latest-offset'"), "scan.startup.mode");
    bad(up("up", ", 'sink.buffer-flush.max-rows' = '10'"), "must be set to be greater than zero together");
}

/// The avro format for keys and values: rows of every common type written and read back; the
/// record bytes are Avro binary datums of Flink's derived schema; a record that is not one
/// fails the job with its position.
#[test]
fn avro_keys_and_values_round_trip() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("av", 2);
    let table = |extra: &str| {
        format!(
            "CREATE TABLE av (id BIGINT NOT NULL, name STRING, price DECIMAL(10, 2), d DATE, ts TIMESTAMP(3), tags ARRAY<STRING>, \
             attrs MAP<STRING, INT>, addr ROW<city STRING, zip INT>, ok BOOLEAN, f FLOAT) WITH ('connector' = 'kafka', 'topic' = 'av', \
             'properties.bootstrap.servers' = '{}', 'key.format' = 'avro', 'key.fields' = 'id', 'value.format' = 'avro'{extra});\n",
            b.bootstrap
        )
    };
    let inserts = "INSERT INTO av VALUES (1, 'one', 12.34, DATE '2024-02-29', TIMESTAMP '2024-01-01 10:00:00.123', ARRAY['a', 'b'], MAP['k', 1], ROW('Oslo', 150), TRUE, 1.5);\n\
                   INSERT INTO av VALUES (2, CAST(NULL AS STRING), CAST(NULL AS DECIMAL(10, 2)), CAST(NULL AS DATE), CAST(NULL AS TIMESTAMP(3)), CAST(NULL AS ARRAY<STRING>), \
                    CAST(NULL AS MAP<STRING, INT>), CAST(NULL AS ROW<city STRING, zip INT>), CAST(NULL AS BOOLEAN), CAST(NULL AS FLOAT));\n\
                   INSERT INTO av VALUES (-3, '', -0.01, DATE '1969-12-31', TIMESTAMP '1969-12-31 23:59:59.999', ARRAY[CAST(NULL AS STRING)], MAP['x', CAST(NULL AS INT)], ROW(CAST(NULL AS STRING), -1), FALSE, -2.5);";
    let (ok, _, err) = run(dir.path(), &format!("{}{inserts}", table("")), &[]);
    assert!(ok, "{err}");
    // Keys: the datum of record {id: long} (zigzag varint); values start with the same id.
    let recs = raw_records(&b, "av");
    assert_eq!(recs.len(), 3);
    let mut keys: Vec<Vec<u8>> = recs.iter().map(|r| r.1.clone().expect("key").into_bytes()).collect();
    keys.sort();
    assert_eq!(keys, vec![vec![0x02], vec![0x04], vec![0x05]]);
    let (ok, lines, err) = run(
        dir.path(),
        &format!(
            "{}CREATE TABLE out (id BIGINT, name STRING, price DECIMAL(10, 2), d DATE, ts TIMESTAMP(3), tags ARRAY<STRING>, attrs MAP<STRING, INT>, \
             addr ROW<city STRING, zip INT>, ok BOOLEAN, f FLOAT) WITH ('connector' = 'print');\nINSERT INTO out SELECT * FROM av;",
            table(", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'")
        ),
        &["-p", "2"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        lines,
        vec![
            "+I[-3, , -0.01, 1969-12-31, 1969-12-31T23:59:59.999, [null], {x=null}, +I[null, -1], false, -2.5]",
            "+I[1, one, 12.34, 2024-02-29, 2024-01-01T10:00:00.123, [a, b], {k=1}, +I[Oslo, 150], true, 1.5]",
            "+I[2, null, null, null, null, null, null, null, null, null]",
        ]
    );
    // A record that is no Avro datum of the schema fails the job with its position.
    b.produce("av", &[(1, 5, "not avro at all".into())]);
    let (ok, _, err) = run(
        dir.path(),
        &format!(
            "{}CREATE TABLE out (id BIGINT) WITH ('connector' = 'print');\nINSERT INTO out SELECT id FROM av;",
            table(", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'").replace("'key.format' = 'avro', 'key.fields' = 'id', ", "")
        ),
        &[],
    );
    assert!(!ok && err.contains("cannot parse record at Kafka topic 'av', partition 1, offset"), "{err}");
    // Types Avro cannot carry are refused when the table is used.
    let (ok, _, err) = run(dir.path(), &format!("{}CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');\nINSERT INTO av SELECT id, CAST(NULL AS TIMESTAMP(9)) FROM g;", table("").replace("ts TIMESTAMP(3), tags ARRAY<STRING>, attrs MAP<STRING, INT>, addr ROW<city STRING, zip INT>, ok BOOLEAN, f FLOAT", "ts TIMESTAMP(9)").replace("name STRING, price DECIMAL(10, 2), d DATE, ", "")), &[]);
    assert!(!ok && err.contains("Avro does not support TIMESTAMP type with precision: 9"), "{err}");
}

/// Writable metadata: a sink's `timestamp` and `headers` columns become the records' timestamp
/// and headers, and read back through the same columns.
#[test]
fn sink_writes_timestamp_and_headers_metadata() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("wm", 1);
    let table = format!(
        "SET 'table.local-time-zone' = 'UTC';\n\
         CREATE TABLE k (id BIGINT, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', hs MAP<STRING, BYTES> METADATA FROM 'headers', \
         off BIGINT METADATA FROM 'offset' VIRTUAL) WITH ('connector' = 'kafka', 'topic' = 'wm', 'properties.bootstrap.servers' = '{}', \
         'format' = 'json', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');\n",
        b.bootstrap
    );
    let (ok, _, err) = run(
        dir.path(),
        &format!(
            "{table}INSERT INTO k VALUES (1, TO_TIMESTAMP_LTZ(1700000000123, 3), MAP['trace', CAST('abc' AS BYTES), 'n', CAST(NULL AS BYTES)]), \
             (2, CAST(NULL AS TIMESTAMP_LTZ(3)), CAST(NULL AS MAP<STRING, BYTES>));"
        ),
        &[],
    );
    assert!(ok, "{err}");
    let recs = raw_records(&b, "wm");
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].2.as_deref(), Some(&b"{\"id\":1}"[..]));
    assert_eq!(recs[0].3, 1_700_000_000_123);
    let mut h = recs[0].4.clone();
    h.sort();
    assert_eq!(h, vec![("n".to_string(), None), ("trace".to_string(), Some("abc".to_string()))]);
    // No timestamp given: the producer's clock; no headers.
    assert!(recs[1].3 > 1_700_000_000_123 && recs[1].4.is_empty(), "{:?}", recs[1]);
    let (ok, lines, err) = run(
        dir.path(),
        &format!(
            "{table}CREATE TABLE out (id BIGINT, ts TIMESTAMP_LTZ(3), tr STRING, o BIGINT) WITH ('connector' = 'print');\n\
             INSERT INTO out SELECT id, ts, CAST(hs['trace'] AS STRING), off FROM k WHERE id = 1;"
        ),
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(lines, vec!["+I[1, 2023-11-14T22:13:20.123Z, abc, 0]"]);
}

/// canal-json and maxwell-json through Kafka: a changelog written in each and read back
/// materialises to the same table (debezium-json has its own test above).
#[test]
fn canal_and_maxwell_json_round_trip_a_changelog() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("cdc", 1);
    let recs: Vec<&str> = include_str!("../../../tests/data/debezium-products.json").lines().collect();
    b.produce("cdc", &recs.iter().enumerate().map(|(i, r)| (0, 1000 + i as i64, r.to_string())).collect::<Vec<_>>());
    let table = |name: &str, topic: &str, format: &str, cols: &str| {
        format!(
            "CREATE TABLE {name} ({cols}) WITH ('connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{}', \
             'format' = '{format}', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');\n",
            b.bootstrap
        )
    };
    for format in ["canal-json", "maxwell-json"] {
        b.topic(format, 1);
        let sql = format!(
            "{}{}INSERT INTO dst SELECT name, SUM(weight), COUNT(*) FROM src GROUP BY name;",
            table("src", "cdc", "debezium-json", "id BIGINT, name STRING, weight DOUBLE"),
            table("dst", format, format, "name STRING, w DOUBLE, n BIGINT")
        );
        let (ok, _, err) = run(dir.path(), &sql, &["-p", "2"]);
        assert!(ok, "{format}: {err}");
        // One partition: each key's changes were written by one subtask, in order.
        let sql = format!(
            "{}CREATE TABLE out (name STRING, w DOUBLE, n BIGINT) WITH ('connector' = 'print');\nINSERT INTO out SELECT * FROM dst;",
            table("dst", format, format, "name STRING, w DOUBLE, n BIGINT")
        );
        let (ok, lines, err) = run_in_order(dir.path(), &sql, &[]);
        assert!(ok, "{format}: {err}");
        assert!(lines.iter().any(|l| l.starts_with("-D[") || l.starts_with("-U[")), "{format}: {lines:?}");
        assert_eq!(
            materialize(&lines).into_values().collect::<Vec<_>>(),
            vec!["hammer, 1.0, 1".to_string(), "scooter, 5.18, 1".to_string()],
            "{format}: {lines:?}"
        );
    }
}

/// The source's metrics while a job reads a backlog: `pending_records` (the consumer lag, end
/// offsets minus what the source handed on) is above zero while a slow job (a Python UDF that
/// sleeps per row) works through 5,000 records, more than the job holds in flight, and 0 once it has read them all, and the source's
/// bytes in are exactly the records' value bytes.
#[test]
fn consumer_lag_and_bytes_read_are_reported() {
    let b = Broker::start();
    let dir = tempfile::tempdir().expect("tmp");
    b.topic("backlog", 2);
    let recs: Vec<(i32, i64, String)> = (0..5000i64).map(|i| ((i % 2) as i32, 1000 + i, format!("{{\"id\": {i}, \"p\": {}}}", i % 2))).collect();
    let value_bytes: usize = recs.iter().map(|r| r.2.len()).sum();
    b.produce("backlog", &recs);
    std::fs::write(dir.path().join("slow.py"), "import time\nfrom pyflink.table.udf import udf\n\n@udf(result_type='BIGINT')\ndef slow(x):\n    time.sleep(0.001)\n    return x\n")
        .expect("udf file");
    let metrics = dir.path().join("metrics.json");
    let script = dir.path().join("lag.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'python.files' = '{}';\nCREATE FUNCTION slow AS 'slow.slow' LANGUAGE PYTHON;\n\
             CREATE TABLE k (id BIGINT, p INT) WITH ('connector' = 'kafka', 'topic' = 'backlog', 'properties.bootstrap.servers' = '{}', \
             'format' = 'json', 'scan.startup.mode' = 'earliest-offset');\n\
             CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO out SELECT slow(id) FROM k;\n",
            dir.path().join("slow.py").display(),
            b.bootstrap
        ),
    )
    .expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .arg("run")
        .arg(&script)
        .args(["--progress", "none", "--batch-size", "20", "--metrics-file"])
        .arg(&metrics)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rask run");
    let source = |v: &serde_json::Value| v["nodes"].as_array().and_then(|n| n.iter().find(|n| n["source"] == true).cloned()).unwrap_or_default();
    let mut lagging = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let last = loop {
        assert!(Instant::now() < deadline, "the job did not catch up; lag seen: {lagging:?}");
        assert!(child.try_wait().expect("wait").is_none(), "the job ended");
        std::thread::sleep(Duration::from_millis(200));
        let Ok(text) = std::fs::read_to_string(&metrics) else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let s = source(&v);
        let sink_in = v["nodes"].as_array().and_then(|n| n.iter().find(|n| n["sink"] == true)).map_or(0, |n| n["records_in"].as_u64().unwrap_or(0));
        if let Some(p) = s["pending_records"].as_i64() {
            lagging.push(p);
        }
        if sink_in == 5000 && s["pending_records"].as_i64() == Some(0) {
            break s;
        }
    };
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert!(lagging.iter().any(|p| *p > 0 && *p < 5000), "lag while behind: {lagging:?}");
    assert_eq!(last["bytes_in"].as_u64(), Some(value_bytes as u64), "{last}");
    assert!(last["bytes_out"].as_u64().is_some_and(|b| b >= 5000 * 8), "{last}");
}
