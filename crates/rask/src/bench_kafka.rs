//! `rask bench kafka`: Kafka → filter → Kafka throughput of a Rask job against a bare rdkafka
//! consume → produce loop on the same broker, in one run (issue 6's benchmark figure).
//!
//! It fills an input topic with ~100-byte JSON records, then (1) copies them with a plain
//! librdkafka loop in this process (one consumer polling, one producer sending each payload,
//! the same client settings as Rask's source and sink) and (2) runs
//! `INSERT INTO out SELECT * FROM in WHERE amount >= 100` (90 % of the rows) through a child
//! `rask run`, reading from the earliest offset up to the end; each side's time runs from its
//! start until everything it wrote is acknowledged.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::bench::{own_usage, Usage};

/// The test broker (noida) answers a fetch with everything it has, past `fetch.max.bytes`;
/// both sides accept responses up to 1 GB instead of librdkafka's 100 MB.
const RECEIVE_MAX: &str = "1000000000";

#[derive(Args, Clone, Debug)]
pub struct KafkaArgs {
    /// Brokers to use (`bench/kafka.sh` starts one and passes it).
    #[arg(long)]
    pub bootstrap: String,
    /// Records in the input topic.
    #[arg(long, default_value_t = 2_000_000)]
    pub records: u64,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Parallelism of the Rask job.
    #[arg(short, long, default_value_t = 1)]
    pub parallelism: usize,
    /// `table` or `json` (one object per side).
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, serde::Serialize)]
struct Side {
    side: &'static str,
    records: u64,
    wall_s: f64,
    cpu_s: f64,
    records_per_s: f64,
    records_per_core_s: f64,
    peak_rss_bytes: u64,
}

/// The i-th input record: ~100 bytes of JSON.
fn record(i: u64) -> String {
    format!(
        "{{\"id\":{i},\"user_id\":\"user-{:05}\",\"category\":\"cat-{}\",\"amount\":{},\"ts\":{},\"note\":\"n{:08}\"}}",
        i % 100_000,
        i % 20,
        i % 1000,
        1_700_000_000_000 + i,
        i
    )
}

fn create_topics(bootstrap: &str, names: &[&str], partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", bootstrap).create()?;
    let topics: Vec<NewTopic<'_>> = names.iter().map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1")).collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in futures::executor::block_on(admin.create_topics(topics.iter(), &opts))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating topic '{t}': {e}"))?;
    }
    Ok(())
}

fn producer(bootstrap: &str) -> Result<BaseProducer> {
    // Rask's sink default (linger.ms 5); librdkafka's defaults otherwise.
    Ok(ClientConfig::new().set("bootstrap.servers", bootstrap).set("linger.ms", "5").create()?)
}

fn send(p: &BaseProducer, topic: &str, payload: &[u8]) -> Result<()> {
    loop {
        match p.send(BaseRecord::<(), [u8]>::to(topic).payload(payload)) {
            Ok(()) => return Ok(()),
            Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), _)) => {
                p.poll(Duration::from_millis(5));
            }
            Err((e, _)) => bail!("producing to '{topic}': {e}"),
        }
    }
}

fn fill(bootstrap: &str, topic: &str, n: u64) -> Result<()> {
    let p = producer(bootstrap)?;
    for i in 0..n {
        send(&p, topic, record(i).as_bytes())?;
        if i.is_multiple_of(1000) {
            p.poll(Duration::ZERO);
        }
    }
    p.flush(Duration::from_secs(120))?;
    Ok(())
}

/// The bare loop: consume every record of `input` and produce its payload to `output`.
fn bare_loop(a: &KafkaArgs, input: &str, output: &str) -> Result<Side> {
    let before = own_usage();
    let t0 = Instant::now();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.bootstrap)
        .set("group.id", "rask-bench-bare")
        .set("enable.auto.commit", "false")
        .set("receive.message.max.bytes", RECEIVE_MAX)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..a.partitions {
        tpl.add_partition_offset(input, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let p = producer(&a.bootstrap)?;
    let mut n = 0u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < a.records {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m?;
            send(&p, output, m.payload().unwrap_or_default())?;
            n += 1;
            if n.is_multiple_of(1000) {
                p.poll(Duration::ZERO);
            }
        }
        if Instant::now() > deadline {
            bail!("the bare loop read {n} of {} records in 600 s", a.records);
        }
    }
    p.flush(Duration::from_secs(120))?;
    let wall = t0.elapsed().as_secs_f64();
    let after = own_usage();
    let cpu = after.cpu_s - before.cpu_s;
    Ok(Side {
        side: "bare rdkafka loop",
        records: n,
        wall_s: wall,
        cpu_s: cpu,
        records_per_s: n as f64 / wall,
        records_per_core_s: n as f64 / cpu.max(1e-9),
        peak_rss_bytes: after.peak_rss_bytes,
    })
}

fn rask_job(a: &KafkaArgs, dir: &std::path::Path, input: &str, output: &str) -> Result<Side> {
    let cols = "id BIGINT, user_id STRING, category STRING, amount INT, ts BIGINT, note STRING";
    let sql = format!(
        "CREATE TABLE src ({cols}) WITH ('connector' = 'kafka', 'topic' = '{input}', 'properties.bootstrap.servers' = '{bs}', \
           'format' = 'json', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', \
           'properties.receive.message.max.bytes' = '{RECEIVE_MAX}');\n\
         CREATE TABLE dst ({cols}) WITH ('connector' = 'kafka', 'topic' = '{output}', 'properties.bootstrap.servers' = '{bs}', \
           'format' = 'json');\n\
         INSERT INTO dst SELECT * FROM src WHERE amount >= 100;\n",
        bs = a.bootstrap
    );
    let script = dir.join("filter.sql");
    std::fs::write(&script, sql)?;
    let usage_file = dir.join("usage.json");
    let exe = std::env::current_exe().context("locating the rask binary")?;
    let t0 = Instant::now();
    let out = Command::new(exe)
        .arg("run")
        .arg(&script)
        .args(["--parallelism", &a.parallelism.to_string(), "--progress", "none", "--usage-out"])
        .arg(&usage_file)
        .output()?;
    let wall = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("the Rask job failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let u: Usage = serde_json::from_str(&std::fs::read_to_string(&usage_file)?)?;
    Ok(Side {
        side: "rask job",
        records: a.records,
        wall_s: wall,
        cpu_s: u.cpu_s,
        records_per_s: a.records as f64 / wall,
        records_per_core_s: a.records as f64 / u.cpu_s.max(1e-9),
        peak_rss_bytes: u.peak_rss_bytes,
    })
}

pub fn kafka(a: &KafkaArgs) -> Result<()> {
    if !matches!(a.format.as_str(), "table" | "json") {
        bail!("--format must be 'table' or 'json', not '{}'", a.format);
    }
    let tag = format!("{}-{}", std::process::id(), rask_types::now_ms());
    let (input, bare_out, rask_out) = (format!("bench-in-{tag}"), format!("bench-bare-{tag}"), format!("bench-rask-{tag}"));
    create_topics(&a.bootstrap, &[&input, &bare_out, &rask_out], a.partitions)?;
    let avg = (0..1000).map(|i| record(i * 997).len()).sum::<usize>() / 1000;
    if a.format == "table" {
        eprintln!("filling '{input}' with {} JSON records of ~{avg} bytes over {} partitions …", a.records, a.partitions);
    }
    fill(&a.bootstrap, &input, a.records)?;
    let dir: PathBuf = std::env::temp_dir().join(format!("rask-bench-kafka-{tag}"));
    std::fs::create_dir_all(&dir)?;
    let bare = bare_loop(a, &input, &bare_out)?;
    let job = rask_job(a, &dir, &input, &rask_out)?;
    let _ = std::fs::remove_dir_all(&dir);
    if a.format == "json" {
        println!("{}", serde_json::to_string(&bare)?);
        println!("{}", serde_json::to_string(&job)?);
    } else {
        println!("{:<18} {:>9} {:>8} {:>8} {:>11} {:>14} {:>8}", "side", "records", "wall s", "cpu s", "records/s", "records/core-s", "RSS MiB");
        for s in [&bare, &job] {
            println!(
                "{:<18} {:>9} {:>8.2} {:>8.2} {:>11.0} {:>14.0} {:>8.0}",
                s.side,
                s.records,
                s.wall_s,
                s.cpu_s,
                s.records_per_s,
                s.records_per_core_s,
                s.peak_rss_bytes as f64 / (1 << 20) as f64
            );
        }
        println!("rask / bare: {:.0} % of the bare loop's records/s (parallelism {})", 100.0 * job.records_per_s / bare.records_per_s, a.parallelism);
    }
    Ok(())
}
