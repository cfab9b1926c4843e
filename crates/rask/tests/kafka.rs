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
    static SCRIPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = dir.join(format!("job-{}.sql", SCRIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::write(&path, sql).expect("write script");
    let out = Command::new(env!("CARGO_BIN_EXE_rask")).arg("run").arg(&path).args(args).args(["--progress", "none"]).output().expect("rask run");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("+I["))
        .map(|l| l.split_once("> ").map_or(l, |(_, r)| r).to_string())
        .collect();
    lines.sort();
    (out.status.success(), lines, String::from_utf8_lossy(&out.stderr).to_string())
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
