//! Exactly-once under failures (the checkpoint issue's chaos test), through the real binary: a
//! windowed aggregation and an interval join over bounded datagen sources, written by the
//! filesystem sink, with checkpoints every 200 ms. Worker processes — and in another run the
//! whole `rask run` — are killed with SIGKILL at random (seeded) moments at least 5 times; after
//! the last recovery the committed output must equal, as a multiset of lines, the output of a
//! run without failures. At parallelism 1 and 2, and across 2 processes killing one of them.
//!
//! `RASK_CHAOS_SEED` replays a seed; every failure message prints the seed it used.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::children_of;

/// Rows per source; at ROWS_PER_S the job runs ~6 s without failures.
const ROWS: u64 = 36_000;
const ROWS_PER_S: u64 = 6_000;
const KILLS: usize = 5;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi) milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

fn seed() -> u64 {
    std::env::var("RASK_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
    })
}

/// Which job a test runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Job {
    /// HOP window aggregation and an interval join.
    AggJoin,
    /// Session windows, window Top-N, a window join and OVER aggregations.
    Buffering,
    /// Group aggregations without windows (one over the other, so it retracts), a left join of
    /// an aggregation with a filtered stream, a Top-N and an OVER aggregation over an
    /// aggregation, writing their changelogs with debezium-json.
    Updating,
}

const OUTPUTS: [&str; 12] = [
    "win_out", "join_out", "session_out", "topn_out", "wjoin_out", "over_out", "over2_out", "agg_out", "nested_out", "ljoin_out", "rank_out", "uover_out",
];
/// Outputs holding a changelog (debezium-json): compared as the table they leave behind, since
/// the order in which two source subtasks' rows meet at an aggregation varies between runs.
const CHANGELOGS: [&str; 5] = ["agg_out", "nested_out", "ljoin_out", "rank_out", "uover_out"];

fn script(dir: &Path, checkpoint: bool) -> PathBuf {
    job_script(dir, checkpoint, Job::AggJoin)
}

fn job_script(dir: &Path, checkpoint: bool, job: Job) -> PathBuf {
    let chk = if checkpoint {
        format!(
            "SET 'execution.checkpointing.interval' = '200ms';\n\
             SET 'execution.checkpointing.dir' = '{}';\n\
             SET 'restart-strategy.type' = 'fixed-delay';\n\
             SET 'restart-strategy.fixed-delay.attempts' = '1000';\n\
             SET 'restart-strategy.fixed-delay.delay' = '50ms';\n",
            dir.join("chk").display()
        )
    } else {
        String::new()
    };
    // Buffering: every 100 ids the time jumps by 1 s, so that sessions close.
    let (jump, keys) = if job == Job::Buffering { (" + (id / 100) * 1000", 10) } else { ("", 1000) };
    let table = |name: &str, shift: i64| {
        format!(
            "CREATE TABLE {name} (id BIGINT, k AS id % {keys}, ts AS TO_TIMESTAMP_LTZ(id * 10{jump} + {shift}, 3), \
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
             WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0', \
               'fields.id.end' = '{}', 'rows-per-second' = '{ROWS_PER_S}');\n",
            ROWS - 1
        )
    };
    let out = |n: &str| dir.join(n).display().to_string();
    let sql = if job == Job::Updating {
        format!(
            "{chk}{}\
             CREATE TABLE agg_out (g BIGINT, c BIGINT, s BIGINT, mx BIGINT, mn BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             CREATE TABLE nested_out (c BIGINT, n BIGINT, mx BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             CREATE TABLE ljoin_out (k BIGINT, c BIGINT, rid BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             CREATE TABLE rank_out (k BIGINT, c BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             CREATE TABLE uover_out (k BIGINT, c BIGINT, s BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             EXECUTE STATEMENT SET BEGIN\n\
             INSERT INTO agg_out SELECT id % 7, COUNT(*), SUM(id), MAX(id), MIN(id) FROM a GROUP BY id % 7;\n\
             INSERT INTO nested_out SELECT c, COUNT(*), MAX(k) FROM (SELECT id % 97 AS k, COUNT(*) AS c FROM a GROUP BY id % 97) GROUP BY c;\n\
             INSERT INTO ljoin_out SELECT l.k, l.c, r.id FROM (SELECT id % 13 AS k, COUNT(*) AS c FROM a GROUP BY id % 13) l \
               LEFT JOIN (SELECT id FROM a WHERE id < 5) r ON l.k = r.id;\n\
             INSERT INTO rank_out SELECT k, c FROM (SELECT k, c, ROW_NUMBER() OVER (ORDER BY c DESC, k ASC) AS rn \
               FROM (SELECT id % 11 AS k, COUNT(*) AS c FROM a WHERE id % 11 < 5 OR id < 1000 GROUP BY id % 11)) WHERE rn <= 3;\n\
             INSERT INTO uover_out SELECT k, c, SUM(c) OVER (PARTITION BY p ORDER BY mx ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) \
               FROM (SELECT k, k % 5 AS p, c, mx FROM (SELECT id % 97 AS k, COUNT(*) AS c, MAX(id) AS mx FROM a GROUP BY id % 97));\n\
             END;\n",
            table("a", 0),
            out("agg_out"),
            out("nested_out"),
            out("ljoin_out"),
            out("rank_out"),
            out("uover_out"),
        )
    } else if job == Job::Buffering {
        format!(
            "{chk}{}{}\
             CREATE TABLE session_out (k BIGINT, ws TIMESTAMP_LTZ(3), we TIMESTAMP_LTZ(3), c BIGINT, s BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             CREATE TABLE topn_out (ws TIMESTAMP_LTZ(3), k BIGINT, id BIGINT, rn BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             CREATE TABLE wjoin_out (k BIGINT, ws TIMESTAMP_LTZ(3), a_id BIGINT, b_id BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             CREATE TABLE over_out (k BIGINT, id BIGINT, s3 BIGINT, c3 BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             CREATE TABLE over2_out (k BIGINT, id BIGINT, total BIGINT) \
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             EXECUTE STATEMENT SET BEGIN\n\
             INSERT INTO session_out SELECT k, window_start, window_end, COUNT(*), SUM(id) \
               FROM TABLE(SESSION(TABLE a PARTITION BY k, DESCRIPTOR(ts), INTERVAL '500' MILLISECOND)) \
               GROUP BY k, window_start, window_end;\n\
             INSERT INTO topn_out SELECT window_start, k, id, rn FROM (SELECT window_start, window_end, k, id, \
               ROW_NUMBER() OVER (PARTITION BY window_start, window_end, k ORDER BY id DESC) AS rn \
               FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '1' SECOND))) WHERE rn <= 2;\n\
             INSERT INTO wjoin_out SELECT l.k, l.window_start, l.id, r.id \
               FROM (SELECT * FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '2' SECOND))) l \
               JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, DESCRIPTOR(ts), INTERVAL '2' SECOND))) r \
               ON l.k = r.k AND l.id = r.id AND l.window_start = r.window_start AND l.window_end = r.window_end;\n\
             INSERT INTO over_out SELECT k, id, SUM(id) OVER w, COUNT(*) OVER w FROM b \
               WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW);\n\
             INSERT INTO over2_out SELECT k, id, \
               SUM(id) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM b;\n\
             END;\n",
            table("a", 0),
            table("b", 300),
            out("session_out"),
            out("topn_out"),
            out("wjoin_out"),
            out("over_out"),
            out("over2_out"),
        )
    } else {
        format!(
        "{chk}{}{}\
         CREATE TABLE win_out (k BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3), c BIGINT, s BIGINT, mx BIGINT) \
           WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         CREATE TABLE join_out (a_id BIGINT, b_id BIGINT, a_ts TIMESTAMP_LTZ(3), b_ts TIMESTAMP_LTZ(3)) \
           WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO win_out SELECT id % 13, window_start, window_end, COUNT(*), SUM(id), MAX(id) \
           FROM TABLE(HOP(TABLE a, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '3' SECOND)) \
           GROUP BY id % 13, window_start, window_end;\n\
         INSERT INTO join_out SELECT a.id, b.id, a.ts, b.ts FROM a JOIN b \
           ON a.k = b.k AND b.ts BETWEEN a.ts - INTERVAL '1' SECOND AND a.ts + INTERVAL '1' SECOND;\n\
         END;\n",
        table("a", 0),
        table("b", 500),
        dir.join("win_out").display(),
        dir.join("join_out").display(),
        )
    };
    let path = dir.join("job.sql");
    std::fs::write(&path, sql).unwrap();
    path
}

/// The committed output: every line of the visible part files, sorted.
fn committed(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for sub in OUTPUTS {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue; // in progress or pending: not committed
            }
            for l in std::fs::read_to_string(e.path()).unwrap().lines() {
                lines.push(format!("{sub}: {l}"));
            }
        }
    }
    lines.sort();
    materialise(lines)
}

/// Changelog outputs replaced by the rows they leave: a debezium-json insert adds its `after`
/// row, a delete removes its `before` row; a row removed more often than added shows as an
/// error line (so that the comparison fails).
fn materialise(lines: Vec<String>) -> Vec<String> {
    let mut table: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for l in lines {
        let Some((sub, rec)) = l.split_once(": ").filter(|(s, _)| CHANGELOGS.contains(s)) else {
            out.push(l);
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(rec).unwrap();
        let (row, n) = if v["op"] == "c" { (&v["after"], 1) } else { (&v["before"], -1) };
        *table.entry(format!("{sub}: {row}")).or_insert(0) += n;
    }
    for (row, n) in table {
        match n {
            0 => {}
            n if n < 0 => out.push(format!("ERROR: {row} retracted {} more times than added", -n)),
            n => out.extend(std::iter::repeat_n(row, n as usize)),
        }
    }
    out.sort();
    out
}

fn rask(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rask"));
    c.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// Worker processes of `script` still alive (after their supervisor was killed).
fn workers_of(script: &Path) -> Vec<u32> {
    let needle = script.to_string_lossy().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(format!("/proc/{p}/cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle) && (cmd.contains("--worker") || cmd.contains("--process-index")) {
            out.push(p);
        }
    }
    out
}

fn kill9(pid: u32) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

fn wait_ok(mut child: Child, what: &str, seed: u64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(st.success(), "{what} (seed {seed}) failed with {st}:\n{err}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} (seed {seed}) did not finish within 180 s:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The output of a run without failures (and without checkpoint storage).
fn reference() -> Vec<String> {
    reference_of(Job::AggJoin)
}

fn reference_of(job: Job) -> Vec<String> {
    static REF: std::sync::Mutex<Vec<(Job, Vec<String>)>> = std::sync::Mutex::new(Vec::new());
    if let Some((_, r)) = REF.lock().unwrap().iter().find(|(j, _)| *j == job) {
        return r.clone();
    }
    let r = {
        let dir = tempfile::tempdir().unwrap();
        let s = job_script(dir.path(), false, job);
        let out = rask(&["run", s.to_str().unwrap(), "--progress", "none"]).output().unwrap();
        assert!(out.status.success(), "reference run failed: {}", String::from_utf8_lossy(&out.stderr));
        let lines = committed(dir.path());
        if job == Job::Updating {
            assert_eq!(lines, updating_expected(), "the reference run's final tables");
        } else {
            assert!(lines.len() > ROWS as usize, "the reference run produced {} lines", lines.len());
        }
        lines
    };
    REF.lock().unwrap().push((job, r.clone()));
    r
}

/// The final tables of `Job::Updating`, computed here.
fn updating_expected() -> Vec<String> {
    let ids = 0..ROWS as i64;
    let mut lines = Vec::new();
    for g in 0..7 {
        let v: Vec<i64> = ids.clone().filter(|i| i % 7 == g).collect();
        let row = serde_json::json!({"g": g, "c": v.len(), "s": v.iter().sum::<i64>(), "mx": v.iter().max(), "mn": v.iter().min()});
        lines.push(format!("agg_out: {row}"));
    }
    let mut per_count: std::collections::BTreeMap<i64, (i64, i64)> = std::collections::BTreeMap::new();
    for k in 0..97 {
        let c = ids.clone().filter(|i| i % 97 == k).count() as i64;
        let e = per_count.entry(c).or_insert((0, i64::MIN));
        *e = (e.0 + 1, e.1.max(k));
    }
    for (c, (n, mx)) in per_count {
        lines.push(format!("nested_out: {}", serde_json::json!({"c": c, "n": n, "mx": mx})));
    }
    for k in 0..13 {
        let c = ids.clone().filter(|i| i % 13 == k).count();
        let rid = (k < 5).then_some(k);
        lines.push(format!("ljoin_out: {}", serde_json::json!({"k": k, "c": c, "rid": rid})));
    }
    let mut counts: Vec<(i64, i64)> = (0..11).map(|k| (k, ids.clone().filter(|i| i % 11 == k && (k < 5 || *i < 1000)).count() as i64)).collect();
    counts.sort_by_key(|(k, c)| (-c, *k));
    for (k, c) in counts.into_iter().take(3) {
        lines.push(format!("rank_out: {}", serde_json::json!({"k": k, "c": c})));
    }
    // Per k % 5, the groups by their largest id; each with the counts of itself and the two before.
    for p in 0..5 {
        let mut groups: Vec<(i64, i64, i64)> = (0..97)
            .filter(|k| k % 5 == p)
            .map(|k| {
                let v: Vec<i64> = ids.clone().filter(|i| i % 97 == k).collect();
                (*v.iter().max().unwrap(), k, v.len() as i64)
            })
            .collect();
        groups.sort();
        for (i, (_, k, c)) in groups.iter().enumerate() {
            let s: i64 = groups[i.saturating_sub(2)..=i].iter().map(|g| g.2).sum();
            lines.push(format!("uover_out: {}", serde_json::json!({"k": k, "c": c, "s": s})));
        }
    }
    lines.sort();
    lines
}

fn check(dir: &Path, what: &str, seed: u64) {
    check_job(dir, what, seed, Job::AggJoin)
}

fn check_job(dir: &Path, what: &str, seed: u64, job: Job) {
    let got = committed(dir);
    let want = reference_of(job);
    if got != want {
        let missing: Vec<_> = want.iter().filter(|l| !got.contains(l)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|l| !want.contains(l)).take(5).collect();
        panic!(
            "{what} (seed {seed}): {} committed lines, {} expected; e.g. missing {missing:?}, unexpected {extra:?}",
            got.len(),
            want.len()
        );
    }
}

/// Kill worker processes of a supervised run `KILLS` times; the supervisor restarts them.
fn kill_workers(extra: &[&str], what: &str) {
    kill_workers_of(extra, what, Job::AggJoin)
}

fn kill_workers_of(extra: &[&str], what: &str, job: Job) {
    let seed = seed();
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let s = job_script(dir.path(), true, job);
    let mut args = vec!["run", s.to_str().unwrap(), "--progress", "none"];
    args.extend_from_slice(extra);
    let child = rask(&args).spawn().unwrap();
    let sup = child.id();
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut child = child;
    while kills < KILLS && Instant::now() < deadline {
        std::thread::sleep(rng.millis(300, 1000));
        if child.try_wait().unwrap().is_some() {
            break; // ended early: wait_ok reports how
        }
        let workers = children_of(sup);
        if workers.is_empty() {
            continue; // restarting
        }
        // With several processes, only one of them dies.
        kill9(workers[(rng.next() % workers.len() as u64) as usize]);
        kills += 1;
    }
    if kills < KILLS {
        wait_ok(child, what, seed);
        panic!("{what} (seed {seed}): the job ended after {kills} of {KILLS} kills; make it longer");
    }
    wait_ok(child, what, seed);
    check_job(dir.path(), what, seed, job);
}

#[test]
fn killing_workers_of_session_window_top_n_window_join_and_over_loses_and_duplicates_nothing() {
    kill_workers_of(&["-p", "2"], "worker kills (session windows, window Top-N, window join, OVER) at parallelism 2", Job::Buffering);
}

#[test]
fn killing_workers_of_updating_aggregations_loses_and_duplicates_nothing() {
    kill_workers_of(&["-p", "2"], "worker kills (group aggregations, changelog output) at parallelism 2", Job::Updating);
}

#[test]
fn killing_workers_at_parallelism_1_loses_and_duplicates_nothing() {
    kill_workers(&["-p", "1"], "worker kills at parallelism 1");
}

#[test]
fn killing_workers_at_parallelism_2_loses_and_duplicates_nothing() {
    kill_workers(&["-p", "2"], "worker kills at parallelism 2");
}

#[test]
fn killing_one_of_two_processes_loses_and_duplicates_nothing() {
    kill_workers(&["--processes", "2"], "killing one of 2 processes");
}

#[test]
fn killing_rask_run_and_running_it_again_resumes() {
    let seed = seed();
    let mut rng = Rng(seed ^ 0x9e37_79b9);
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), true);
    let args = ["run", s.to_str().unwrap(), "--progress", "none", "-p", "2"];
    for i in 0..KILLS {
        let mut child = rask(&args).spawn().unwrap();
        std::thread::sleep(rng.millis(500, 1300));
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("seed {seed}: the job ended ({st}) before kill {i}; make it longer:\n{err}");
        }
        kill9(child.id());
        let _ = child.wait();
        // The workers die with their supervisor.
        let t = Instant::now();
        while !workers_of(&s).is_empty() {
            assert!(t.elapsed() < Duration::from_secs(10), "seed {seed}: workers outlived their supervisor");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut child = rask(&args).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        use std::io::Read;
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let st = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(st.success(), "final run (seed {seed}) failed:\n{err}");
    assert!(err.contains("resuming from checkpoint chk-"), "the final run says it resumes (seed {seed}):\n{err}");
    check(dir.path(), "killing rask run", seed);
}

/// Stop-with-savepoint at parallelism 2 (Ctrl-C with `--savepoint-dir`), then resume the
/// savepoint at parallelism `p`: state is re-partitioned by key group, source splits are
/// redistributed, and the final output equals the uninterrupted run.
fn savepoint_then_resume(p: &str) {
    let seed = seed();
    let mut rng = Rng(seed ^ 0x5eed);
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), true);
    let sp = dir.path().join("savepoints");
    let child = rask(&["run", s.to_str().unwrap(), "--progress", "none", "-p", "2", "--savepoint-dir", sp.to_str().unwrap()]).spawn().unwrap();
    std::thread::sleep(rng.millis(1500, 3000));
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    wait_ok(child, "stop-with-savepoint", seed);
    let saved: Vec<PathBuf> = std::fs::read_dir(&sp).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(saved.len(), 1, "seed {seed}: one savepoint in {}", sp.display());
    let before = committed(dir.path()).len();
    assert!(before < reference().len(), "seed {seed}: the job was stopped before its end ({before} lines committed)");
    let out = rask(&["run", s.to_str().unwrap(), "--progress", "none", "-p", p, "--from-savepoint", saved[0].to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "resume at parallelism {p} (seed {seed}) failed:\n{err}");
    assert!(err.contains("starting from savepoint"), "{err}");
    check(dir.path(), &format!("savepoint at parallelism 2 resumed at {p}"), seed);
}

#[test]
fn savepoint_at_parallelism_2_resumes_at_1() {
    savepoint_then_resume("1");
}

#[test]
fn savepoint_at_parallelism_2_resumes_at_3() {
    savepoint_then_resume("3");
}
