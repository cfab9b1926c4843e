//! `rask bench nexmark`: runs Nexmark queries (the SQL files under `nexmark/queries/`, built into
//! the binary) on the built-in `nexmark` generator into blackhole sinks, one child `rask run`
//! process per query, and reports throughput, CPU time, peak RSS and output latency.
//!
//! A query Rask cannot plan yet is reported with status `needs: <the planner's message>` instead
//! of a figure, so the table always covers q0–q22.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

/// The Nexmark source and views, and the queries, as shipped in the repository.
pub const NEXMARK_DDL: &str = include_str!("../../../nexmark/ddl.sql");
/// Nexmark's user-defined functions (q14's `count_char`), written next to the query scripts.
pub const NEXMARK_UDF: &str = include_str!("../../../nexmark/udf/nexmark_udf.py");
pub const QUERIES: [(&str, &str); 23] = [
    ("q0", include_str!("../../../nexmark/queries/q0.sql")),
    ("q1", include_str!("../../../nexmark/queries/q1.sql")),
    ("q2", include_str!("../../../nexmark/queries/q2.sql")),
    ("q3", include_str!("../../../nexmark/queries/q3.sql")),
    ("q4", include_str!("../../../nexmark/queries/q4.sql")),
    ("q5", include_str!("../../../nexmark/queries/q5.sql")),
    ("q6", include_str!("../../../nexmark/queries/q6.sql")),
    ("q7", include_str!("../../../nexmark/queries/q7.sql")),
    ("q8", include_str!("../../../nexmark/queries/q8.sql")),
    ("q9", include_str!("../../../nexmark/queries/q9.sql")),
    ("q10", include_str!("../../../nexmark/queries/q10.sql")),
    ("q11", include_str!("../../../nexmark/queries/q11.sql")),
    ("q12", include_str!("../../../nexmark/queries/q12.sql")),
    ("q13", include_str!("../../../nexmark/queries/q13.sql")),
    ("q14", include_str!("../../../nexmark/queries/q14.sql")),
    ("q15", include_str!("../../../nexmark/queries/q15.sql")),
    ("q16", include_str!("../../../nexmark/queries/q16.sql")),
    ("q17", include_str!("../../../nexmark/queries/q17.sql")),
    ("q18", include_str!("../../../nexmark/queries/q18.sql")),
    ("q19", include_str!("../../../nexmark/queries/q19.sql")),
    ("q20", include_str!("../../../nexmark/queries/q20.sql")),
    ("q21", include_str!("../../../nexmark/queries/q21.sql")),
    ("q22", include_str!("../../../nexmark/queries/q22.sql")),
];

#[derive(Args, Clone, Debug)]
pub struct NexmarkArgs {
    /// Queries to run: `all`, one name (`q5`) or a comma-separated list (`q0,q5,q8`).
    #[arg(long, default_value = "all")]
    pub query: String,
    /// Events generated per query (Flink nexmark's `events.num`).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Parallelism (worker threads) of each job.
    #[arg(short, long, default_value_t = 1)]
    pub parallelism: usize,
    /// Event-time rate of the generator in events per second (Flink nexmark's TPS; events are
    /// emitted as fast as the job takes them).
    #[arg(long, default_value_t = 10_000_000)]
    pub rate: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rows per source batch.
    #[arg(long, default_value_t = 8192)]
    pub batch_size: usize,
    /// `table` (human readable) or `json` (one object per query per line).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// A table option for every query, `KEY=VALUE` (repeatable): `SET 'KEY' = 'VALUE'` before it.
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub conf: Vec<String>,
    /// The table options of Flink's nexmark benchmark (its flink-conf.yaml): mini-batch with
    /// 2 s / 50,000 rows, which also turns on two-phase group aggregation. Its
    /// `table.optimizer.distinct-agg.split.enabled` is left out (add it with `--conf`): splitting
    /// spreads skewed DISTINCT keys over parallel tasks, which one worker cannot use, and it
    /// multiplies q16's groups by 2,048 buckets.
    #[arg(long)]
    pub nexmark_conf: bool,
}

/// The `SET` statements for `--nexmark-conf` and `--conf`.
fn settings(a: &NexmarkArgs) -> Result<String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if a.nexmark_conf {
        for (k, v) in [("table.exec.mini-batch.enabled", "true"), ("table.exec.mini-batch.allow-latency", "2 s"), ("table.exec.mini-batch.size", "50000")] {
            pairs.push((k.into(), v.into()));
        }
    }
    for c in &a.conf {
        let Some((k, v)) = c.split_once('=') else { bail!("--conf {c}: expected KEY=VALUE") };
        pairs.push((k.trim().into(), v.trim().into()));
    }
    Ok(pairs.iter().map(|(k, v)| format!("SET '{}' = '{}';\n", k.replace('\'', "''"), v.replace('\'', "''"))).collect())
}

/// One query's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryResult {
    pub query: String,
    pub events: u64,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub events_per_s: f64,
    pub events_per_core_s: f64,
    pub peak_rss_bytes: u64,
    pub p50_latency_ms: Option<f64>,
    pub p99_latency_ms: Option<f64>,
    pub status: String,
}

/// What a child `rask run --usage-out FILE` writes when it exits.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
    pub p50_latency_ms: Option<f64>,
    pub p99_latency_ms: Option<f64>,
}

/// This process's CPU time and peak RSS so far.
pub fn own_usage() -> Usage {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            Usage { cpu_s: secs(u.user_time()) + secs(u.system_time()), peak_rss_bytes: u.max_rss().max(0) as u64 * 1024, ..Usage::default() }
        }
        Err(_) => Usage::default(),
    }
}

/// The nexmark DDL with the benchmark's generator options.
pub fn ddl(events: u64, rate: u64, seed: u64) -> Result<String> {
    let default = "    'first-event.rate' = '10000000',\n    'events.num' = '10000000'\n";
    if !NEXMARK_DDL.contains(default) {
        bail!("nexmark/ddl.sql no longer has the generator options this command replaces");
    }
    Ok(NEXMARK_DDL.replace(
        default,
        &format!("    'first-event.rate' = '{rate}',\n    'next-event.rate' = '{rate}',\n    'events.num' = '{events}',\n    'seed' = '{seed}'\n"),
    ))
}

fn selected(query: &str) -> Result<Vec<(&'static str, &'static str)>> {
    if query == "all" {
        return Ok(QUERIES.to_vec());
    }
    query
        .split(',')
        .map(|q| {
            let q = q.trim().to_ascii_lowercase();
            QUERIES.iter().find(|(n, _)| *n == q).copied().with_context(|| {
                format!("unknown query '{q}'; the Nexmark queries are {}", QUERIES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
            })
        })
        .collect()
}

/// The first line of a child's error output, without the script path prefix.
fn first_error_line(stderr: &str, script: &Path) -> String {
    let prefix = format!("{}: ", script.display());
    stderr
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("[INFO]"))
        .map(|l| l.trim_start_matches(&prefix).trim().to_string())
        .unwrap_or_else(|| "no error message".into())
}

fn run_query(exe: &Path, dir: &Path, name: &str, sql: &str, a: &NexmarkArgs) -> Result<QueryResult> {
    let script = dir.join(format!("{name}.sql"));
    // Where file sinks of the queries write (made by the caller, with q13's side table).
    let out_dir = dir.join("out");
    let udf_file = dir.join("nexmark_udf.py");
    std::fs::write(&udf_file, NEXMARK_UDF)?;
    let sql = sql.replace("${NEXMARK_OUT}", &out_dir.display().to_string()).replace("${NEXMARK_UDF}", &udf_file.display().to_string());
    let text = format!("{}{}\n{}", settings(a)?, ddl(a.events, a.rate, a.seed)?, sql);
    std::fs::write(&script, text)?;
    let mut r = QueryResult {
        query: name.to_string(),
        events: a.events,
        wall_s: 0.0,
        cpu_s: 0.0,
        events_per_s: 0.0,
        events_per_core_s: 0.0,
        peak_rss_bytes: 0,
        p50_latency_ms: None,
        p99_latency_ms: None,
        status: "ok".into(),
    };
    let plan = Command::new(exe).arg("explain").arg(&script).arg("-p").arg(a.parallelism.to_string()).output()?;
    if !plan.status.success() {
        r.status = format!("needs: {}", first_error_line(&String::from_utf8_lossy(&plan.stderr), &script));
        return Ok(r);
    }
    let usage_file = dir.join(format!("{name}.usage.json"));
    let t0 = Instant::now();
    let out = Command::new(exe)
        .arg("run")
        .arg(&script)
        .args(["--parallelism", &a.parallelism.to_string(), "--batch-size", &a.batch_size.to_string(), "--progress", "none"])
        .arg("--usage-out")
        .arg(&usage_file)
        .output()?;
    r.wall_s = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        r.status = format!("failed: {}", first_error_line(&String::from_utf8_lossy(&out.stderr), &script));
        return Ok(r);
    }
    let usage: Usage = serde_json::from_str(&std::fs::read_to_string(&usage_file).context("reading the job's usage report")?)?;
    r.cpu_s = usage.cpu_s;
    r.peak_rss_bytes = usage.peak_rss_bytes;
    r.p50_latency_ms = usage.p50_latency_ms;
    r.p99_latency_ms = usage.p99_latency_ms;
    r.events_per_s = a.events as f64 / r.wall_s.max(1e-9);
    r.events_per_core_s = a.events as f64 / r.cpu_s.max(1e-9);
    Ok(r)
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

pub fn nexmark(a: &NexmarkArgs) -> Result<()> {
    if !matches!(a.format.as_str(), "table" | "json") {
        bail!("--format must be 'table' or 'json', not '{}'", a.format);
    }
    if a.events == 0 {
        bail!("--events must be at least 1 (the benchmark runs bounded jobs)");
    }
    let queries = selected(&a.query)?;
    let exe = std::env::current_exe().context("locating the rask binary")?;
    let tmp = std::env::temp_dir().join(format!("rask-bench-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("out"))?;
    // q13's side table: key 0..9999 → its value as text (as Flink nexmark's side input).
    let side: String = (0..10_000).map(|k| format!("{k},{k}\n")).collect();
    std::fs::write(tmp.join("out").join("side_input.csv"), side)?;
    let table = a.format == "table";
    if table {
        eprintln!(
            "Nexmark on the built-in generator: {} events per query, event-time rate {}/s, parallelism {}, seed {}",
            a.events, a.rate, a.parallelism, a.seed
        );
        println!(
            "{:<5} {:>8} {:>9} {:>11} {:>14} {:>9} {:>8} {:>8}  status",
            "query", "wall s", "cpu s", "events/s", "events/core-s", "RSS MiB", "p50 ms", "p99 ms"
        );
    }
    for (name, sql) in queries {
        let r = run_query(&exe, &tmp, name, sql, a)?;
        if table {
            if r.status == "ok" {
                println!(
                    "{:<5} {:>8.2} {:>9.2} {:>11} {:>14} {:>9.0} {:>8} {:>8}  ok",
                    r.query,
                    r.wall_s,
                    r.cpu_s,
                    fmt_rate(r.events_per_s),
                    fmt_rate(r.events_per_core_s),
                    r.peak_rss_bytes as f64 / (1 << 20) as f64,
                    fmt_ms(r.p50_latency_ms),
                    fmt_ms(r.p99_latency_ms)
                );
            } else {
                println!("{:<5} {:>8} {:>9} {:>11} {:>14} {:>9} {:>8} {:>8}  {}", r.query, "-", "-", "-", "-", "-", "-", "-", r.status);
            }
        } else {
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Write this process's usage (and the sinks' latency percentiles) to `path` (for `rask bench`).
/// The CPU time counted is the process's and its finished children's (the Python workers of
/// Python UDFs, reaped when the job's plan is dropped).
pub fn write_usage(path: &PathBuf, latency: Option<(f64, f64)>) {
    let mut u = own_usage();
    if let Ok(c) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN) {
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        u.cpu_s += secs(c.user_time()) + secs(c.system_time());
    }
    if let Some((p50, p99)) = latency {
        u.p50_latency_ms = Some(p50);
        u.p99_latency_ms = Some(p99);
    }
    if let Ok(s) = serde_json::to_string(&u) {
        let _ = std::fs::write(path, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_selected_by_name() {
        assert_eq!(selected("all").unwrap().len(), 23);
        assert_eq!(selected("q5, Q8").unwrap().iter().map(|q| q.0).collect::<Vec<_>>(), ["q5", "q8"]);
        assert!(selected("q23").unwrap_err().to_string().contains("q0, q1"));
    }

    #[test]
    fn ddl_takes_the_generator_options() {
        let d = ddl(123, 456, 7).unwrap();
        assert!(d.contains("'events.num' = '123'") && d.contains("'first-event.rate' = '456'") && d.contains("'seed' = '7'"));
    }
}
