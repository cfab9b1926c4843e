//! The same job gives the same result with 1 worker, 2 worker threads, and 2 processes
//! connected over TCP on 127.0.0.1 (run through the real `rask` binary). The job has a keyed
//! exchange (a primary-key sink), so rows cross workers and, in the 2-process run, processes.

use std::process::Command;

fn script(dir: &std::path::Path) -> std::path::PathBuf {
    let input = dir.join("events.json");
    let mut body = String::new();
    for i in 0..5000 {
        body.push_str(&format!(
            "{{\"id\": {i}, \"user\": \"u{}\", \"amount\": {}.{:02}, \"ts\": \"2024-01-01 00:{:02}:{:02}\"}}\n",
            i % 37,
            i % 100,
            i % 7,
            (i / 60) % 60,
            i % 60
        ));
    }
    std::fs::write(&input, body).unwrap();
    let sql = format!(
        "CREATE TABLE events (id BIGINT, `user` STRING, amount DECIMAL(10, 2), ts TIMESTAMP(3), \
           WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
         CREATE TABLE gen (n INT) WITH ('connector' = 'datagen', 'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '3000');\n\
         CREATE TABLE out_keyed (`user` STRING, id BIGINT, doubled DECIMAL(12, 2), minute_of DATE, PRIMARY KEY (`user`, id) NOT ENFORCED) \
           WITH ('connector' = 'print', 'print-identifier' = 'k');\n\
         CREATE TABLE out_gen (n INT, s STRING) WITH ('connector' = 'print', 'print-identifier' = 'g');\n\
         INSERT INTO out_keyed SELECT UPPER(`user`), id, amount * 2, CAST(ts AS DATE) FROM events WHERE MOD(id, 3) <> 0;\n\
         INSERT INTO out_gen SELECT n, CONCAT('n-', CAST(n * n AS STRING)) FROM gen WHERE n % 2 = 1;\n",
        input.display()
    );
    let path = dir.join("job.sql");
    std::fs::write(&path, sql).unwrap();
    path
}

fn run(args: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_rask")).args(args).output().expect("run rask");
    assert!(out.status.success(), "rask {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            // `k:2> +I[..]` → `k> +I[..]`
            match l.split_once("> ") {
                Some((p, rest)) => format!("{}> {rest}", p.split(':').next().unwrap_or(p)),
                None => l.to_string(),
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn one_worker_two_threads_two_processes_agree() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path());
    let s = s.to_str().unwrap();
    let one = run(&["run", s, "--progress", "none"]);
    assert_eq!(one.len(), 5000 - 1667 + 1500, "unexpected row count");
    assert!(one.contains(&"k> +I[U1, 1, 2.02, 2024-01-01]".to_string()), "{:?}", &one[..3]);
    assert!(one.contains(&"g> +I[2999, n-8994001]".to_string()));
    let two_threads = run(&["run", s, "--parallelism", "2", "--progress", "none"]);
    assert_eq!(one, two_threads, "2 threads differ from 1 worker");
    let two_procs = run(&["run", s, "--processes", "2", "--progress", "none"]);
    assert_eq!(one, two_procs, "2 processes differ from 1 worker");
    let four = run(&["run", s, "--processes", "2", "--workers", "2", "--progress", "none"]);
    assert_eq!(one, four, "2 processes x 2 threads differ from 1 worker");
}
