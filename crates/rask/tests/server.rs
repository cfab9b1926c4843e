//! `rask server` over HTTP, started as a process on a free loopback port, once with the
//! default SQLite metadata store and once with the machine's PostgreSQL (a fresh database per
//! run): the catalog (DDL stored, SQL errors with line and column), deployments through their
//! life (create → RUNNING → stop with savepoint → SUSPENDED → resume → cancel), name conflicts
//! and double starts refused, a rescale between stop and resume, a failing job and a job over
//! its memory limit failing alone while another keeps running, a killed worker restored, and a
//! `kill -9` of the server: the restarted server adopts the running worker and the catalog is
//! intact.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data: &Path, db: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
        cmd.arg("server").arg("--listen").arg("127.0.0.1:0").arg("--data-dir").arg(data);
        if let Some(u) = db {
            cmd.arg("--database-url").arg(u);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start server");
        let mut out = child.stdout.take().expect("stdout");
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let mut b = [0u8; 256];
            let n = out.read(&mut b).expect("read server stdout");
            assert!(n > 0, "server exited: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&b[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(rest) = text.split("listening on http://").nth(1)
                && let Some(a) = rest.split_whitespace().next()
            {
                break a.to_string();
            }
            assert!(Instant::now() < deadline, "server did not start: {text}");
        };
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        Server { child, addr }
    }

    /// One HTTP/1.1 request; (status, JSON or text body).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut s = std::net::TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(180))).ok();
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            self.addr,
            payload.len()
        );
        s.write_all(req.as_bytes()).expect("send");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("response");
        let text = String::from_utf8_lossy(&resp).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}

fn wait_state(s: &Server, name: &str, want: &str) -> Value {
    poll(s, &format!("/api/v1/deployments/{name}"), &format!("deployment {name} never became {want}"), |d| d["state"] == want)
}

/// Lines the job has committed to its output directory.
fn output_lines(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with('.') {
            n += std::fs::read_to_string(e.path()).map(|t| t.lines().count()).unwrap_or(0);
        }
    }
    n
}

/// Kills, when dropped, every process whose command line mentions `dir` (the workers a
/// failed test would leave running).
struct Workers(std::path::PathBuf);

impl Drop for Workers {
    fn drop(&mut self) {
        let needle = self.0.display().to_string();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            if std::fs::read(e.path().join("cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle)) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
    }
}

fn lifecycle(db: Option<&str>) {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let _workers = Workers(data.clone());
    let out = tmp.path().join("out");
    let mut s = Server::start(&data, db);

    // The catalog: DDL is stored; bad SQL answers 400 with the position.
    let ddl = format!(
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '200', 'fields.id.kind' = 'sequence', \
         'fields.id.start' = '1', 'fields.id.end' = '1000000');\n\
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         CREATE TABLE sink (id BIGINT) WITH ('connector' = 'blackhole')",
        out.display()
    );
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": ddl})));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r.as_array().map(Vec::len), Some(3), "{r}");
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "SHOW TABLES"})));
    assert_eq!(st, 200);
    assert_eq!(r[0]["rows"], json!([["out"], ["sink"], ["src"]]), "{r}");
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "CREATE TABLE t (a INT) WITH ('connector' = 'nope')"})));
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["error"]["code"], "sql_validation", "{r}");
    assert!(r["error"]["message"].as_str().is_some_and(|m| m.contains("unknown connector 'nope'")), "{r}");
    assert_eq!((r["error"]["line"].as_u64(), r["error"]["column"].as_u64()), (Some(1), Some(30)), "{r}");
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "CREATE TABLE src (a INT) WITH ('connector' = 'blackhole')"})));
    assert_eq!((st, r["error"]["code"].clone()), (400, json!("sql_validation")), "{r}");
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "SELEC 1"})));
    assert_eq!((st, r["error"]["code"].clone()), (400, json!("sql_parse")), "{r}");
    let (st, r) = s.call("POST", "/api/v1/deployments", Some(json!({"nme": "x"})));
    assert_eq!((st, r["error"]["code"].clone()), (400, json!("bad_request")), "{r}");
    let (st, r) = s.call("GET", "/api/v1/deployments/nope", None);
    assert_eq!((st, r["error"]["code"].clone()), (404, json!("not_found")), "{r}");

    // Secrets: referenced from DDL, stored apart, never answered.
    let (st, _) = s.call("PUT", "/api/v1/secrets/pw", Some(json!({"value": "s3cr3t-Value"})));
    assert_eq!(st, 204);
    let (st, r) = s.call(
        "POST",
        "/api/v1/statements",
        Some(json!({"sql": "CREATE TABLE pgt (id BIGINT) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://127.0.0.1:5432/test', 'table-name' = 'x', 'username' = 'postgres', 'password' = '${secret_values.pw}')"})),
    );
    assert_eq!(st, 200, "{r}");
    assert!(!r.to_string().contains("s3cr3t-Value") && r.to_string().contains("${secret_values.pw}"), "{r}");
    assert_eq!(s.call("GET", "/api/v1/secrets", None).1, json!(["pw"]));
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "CREATE TABLE t2 (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '${secret_values.nope}')"})));
    assert_eq!(st, 400, "{r}");
    assert!(r["error"]["message"].as_str().is_some_and(|m| m.contains("unknown secret 'nope'")), "{r}");

    // A deployment through its life.
    let job = json!({"name": "copy", "sql": "INSERT INTO out SELECT id FROM src", "config": {"execution.checkpointing.interval": "300 ms"}});
    let (st, d) = s.call("POST", "/api/v1/deployments", Some(job.clone()));
    assert_eq!(st, 201, "{d}");
    assert_eq!(d["state"], "RUNNING", "{d}");
    let (st, r) = s.call("POST", "/api/v1/deployments", Some(job));
    assert_eq!((st, r["error"]["code"].clone()), (409, json!("conflict")), "{r}");
    let (st, r) = s.call("POST", "/api/v1/deployments/copy/start", Some(json!({})));
    assert_eq!(st, 409, "{r}");
    let (st, r) = s.call("POST", "/api/v1/deployments", Some(json!({"name": "bad", "sql": "INSERT INTO out SELECT nope FROM src"})));
    assert_eq!((st, r["error"]["code"].clone()), (400, json!("sql_validation")), "{r}");
    // Output arrives (committed at checkpoints).
    let deadline = Instant::now() + Duration::from_secs(30);
    while output_lines(&out) == 0 {
        assert!(Instant::now() < deadline, "no output: {}", s.call("GET", "/api/v1/deployments/copy/logs", None).1);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stop with a savepoint, resume from it: the sequence continues without gaps or repeats.
    let (st, d) = s.call("POST", "/api/v1/deployments/copy/stop", Some(json!({"savepoint": true})));
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["state"], "SUSPENDED", "{d}");
    assert!(d["last_savepoint"].as_str().is_some_and(|p| Path::new(p).join("_metadata").exists()), "{d}");
    let before = output_lines(&out);
    // Rescale while suspended (changing a running deployment is refused), then resume: the
    // savepoint is restored at parallelism 2.
    let (st, r) = s.call("PATCH", "/api/v1/deployments/copy", Some(json!({"sql": "INSERT INTO out SELECT nope FROM src"})));
    assert_eq!((st, r["error"]["code"].clone()), (400, json!("sql_validation")), "{r}");
    let (st, d) = s.call("PATCH", "/api/v1/deployments/copy", Some(json!({"parallelism": 2})));
    assert_eq!((st, d["parallelism"].clone(), d["state"].clone()), (200, json!(2), json!("SUSPENDED")), "{d}");
    let (st, d) = s.call("POST", "/api/v1/deployments/copy/start", Some(json!({})));
    assert_eq!((st, d["state"].clone()), (200, json!("RUNNING")), "{d}");
    let (st, r) = s.call("PATCH", "/api/v1/deployments/copy", Some(json!({"parallelism": 1})));
    assert_eq!((st, r["error"]["code"].clone()), (409, json!("conflict")), "{r}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while output_lines(&out) <= before {
        assert!(Instant::now() < deadline, "no output after resuming: {}", s.call("GET", "/api/v1/deployments/copy/logs", None).1);
        std::thread::sleep(Duration::from_millis(100));
    }

    // A job that fails (its source path does not exist) fails alone; `copy` keeps running.
    let (st, r) = s.call(
        "POST",
        "/api/v1/statements",
        Some(json!({"sql": format!("CREATE TABLE missing (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}/nope', 'format' = 'csv')", tmp.path().display())})),
    );
    assert_eq!(st, 200, "{r}");
    let (st, d) = s.call(
        "POST",
        "/api/v1/deployments",
        Some(json!({"name": "broken", "sql": "INSERT INTO sink SELECT id FROM missing", "config": {"restart-strategy.type": "none"}})),
    );
    assert_eq!(st, 201, "{d}");
    let d = wait_state(&s, "broken", "FAILED");
    assert!(d["failure"].as_str().is_some_and(|f| f.contains("nope")), "{d}");
    assert_eq!(s.call("GET", "/api/v1/deployments/copy", None).1["state"], "RUNNING");
    // A job over its memory limit is ended and fails alone.
    let (st, d) = s.call(
        "POST",
        "/api/v1/deployments",
        Some(json!({"name": "greedy", "sql": "INSERT INTO sink SELECT id FROM src", "config": {"taskmanager.memory.process.size": "8m"}})),
    );
    assert_eq!(st, 201, "{d}");
    let d = wait_state(&s, "greedy", "FAILED");
    assert!(d["failure"].as_str().is_some_and(|f| f.contains("over its memory limit of 8 MiB")), "{d}");
    assert_eq!(s.call("GET", "/api/v1/deployments/copy", None).1["state"], "RUNNING");
    // A worker killed outright (as by the OOM killer) is restored from its latest checkpoint.
    let pid = s.call("GET", "/api/v1/deployments/copy", None).1["pid"].as_i64().expect("pid");
    Command::new("kill").arg("-9").arg(pid.to_string()).status().expect("kill");
    let deadline = Instant::now() + Duration::from_secs(30);
    let d = loop {
        let d = s.call("GET", "/api/v1/deployments/copy", None).1;
        if d["state"] == "RUNNING" && d["pid"].as_i64() != Some(pid) {
            break d;
        }
        assert!(Instant::now() < deadline, "not restored: {d}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(d["restarts"], 1, "{d}");

    // kill -9 of the server: the worker keeps running, the new server adopts it.
    let pid = s.call("GET", "/api/v1/deployments/copy", None).1["pid"].as_i64().expect("pid");
    s.kill9();
    let s = Server::start(&data, db);
    let d = s.call("GET", "/api/v1/deployments/copy", None).1;
    assert_eq!((d["state"].clone(), d["pid"].as_i64()), (json!("RUNNING"), Some(pid)), "{d}");
    let (_, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "SHOW TABLES"})));
    assert_eq!(r[0]["rows"], json!([["missing"], ["out"], ["pgt"], ["sink"], ["src"]]), "{r}");
    assert_eq!(d["parallelism"], 2, "{d}");
    // Cancel; the history tells the story.
    let (st, d) = s.call("POST", "/api/v1/deployments/copy/stop", Some(json!({"savepoint": false})));
    assert_eq!((st, d["state"].clone()), (200, json!("CANCELLED")), "{d}");
    let (_, ev) = s.call("GET", "/api/v1/deployments/copy/events", None);
    let states: Vec<&str> = ev.as_array().expect("events").iter().filter_map(|e| e["state"].as_str()).collect();
    assert_eq!(states, ["CREATED", "RUNNING", "SUSPENDED", "SUSPENDED", "RUNNING", "FAILING", "RESTARTING", "RUNNING", "CANCELLED"], "{ev}");
    // The OpenAPI document describes the endpoints.
    let (st, doc) = s.call("GET", "/api/v1/openapi.json", None);
    assert_eq!(st, 200);
    assert!(doc["paths"]["/api/v1/deployments/{id}/stop"]["post"].is_object(), "{doc}");
}

#[test]
fn server_lifecycle_on_sqlite() {
    lifecycle(None);
}

#[test]
fn server_lifecycle_on_postgresql() {
    let db = format!("rask_server_{}", std::process::id());
    let psql = |sql: &str| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            let (c, conn) = tokio_postgres::connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", tokio_postgres::NoTls).await.expect("PostgreSQL on 127.0.0.1:5432");
            tokio::spawn(conn);
            c.batch_execute(sql).await.expect("psql");
        });
    };
    psql(&format!("DROP DATABASE IF EXISTS {db}"));
    psql(&format!("CREATE DATABASE {db}"));
    lifecycle(Some(&format!("postgres://postgres@127.0.0.1:5432/{db}")));
    psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

/// `/metrics` shows the per-operator metrics of a running Nexmark job in Prometheus text.
#[test]
fn metrics_of_a_running_nexmark_job() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let _workers = Workers(data.clone());
    let s = Server::start(&data, None);
    let ddl = include_str!("../../../nexmark/ddl.sql").replace("'first-event.rate' = '10000000'", "'first-event.rate' = '5000', 'max-emit-speed' = 'false'").replace("'events.num' = '10000000'", "'events.num' = '100000000'");
    let q1 = include_str!("../../../nexmark/queries/q1.sql");
    let (create, insert) = q1.split_at(q1.find("INSERT INTO").expect("q1 inserts"));
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": format!("{ddl}\n{create}")})));
    assert_eq!(st, 200, "{r}");
    let (st, d) = s.call("POST", "/api/v1/deployments", Some(json!({"name": "q1", "sql": insert, "parallelism": 2})));
    assert_eq!(st, 201, "{d}");
    let value = |text: &str, metric: &str, operator: &str| -> Option<f64> {
        text.lines()
            .filter(|l| l.starts_with(metric) && l.contains("deployment=\"q1\"") && l.contains(operator))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .reduce(f64::max)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, m) = s.call("GET", "/metrics", None);
        assert_eq!(st, 200);
        let text = m.as_str().unwrap_or_default().to_string();
        let source = value(&text, "rask_operator_records_out_total", "operator=\"TableSourceScan(table=[nexmark]");
        let sink = value(&text, "rask_operator_records_in_total", "operator=\"Sink(table=[nexmark_q1]");
        let wm = value(&text, "rask_operator_watermark_ms", "operator=\"WatermarkAssigner");
        if source.is_some_and(|v| v > 0.0) && sink.is_some_and(|v| v > 0.0) && wm.is_some_and(|v| v > 1.0e12) {
            assert!(text.contains("rask_deployment_running{deployment=\"q1\",state=\"RUNNING\"} 1"), "{text}");
            // Arrow bytes out of the source and into the sink.
            assert!(value(&text, "rask_operator_bytes_out_total", "operator=\"TableSourceScan(table=[nexmark]").is_some_and(|v| v > 0.0), "{text}");
            assert!(value(&text, "rask_operator_bytes_in_total", "operator=\"Sink(table=[nexmark_q1]").is_some_and(|v| v > 0.0), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no operator metrics for the running job:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The API's series: one sample a second with the rates, and the operators now.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, m) = s.call("GET", "/api/v1/deployments/q1/metrics", None);
        assert_eq!(st, 200, "{m}");
        let series = m["series"].as_array().cloned().unwrap_or_default();
        if series.len() >= 3 && series.last().is_some_and(|x| x["read_per_s"].as_f64().is_some_and(|r| r > 0.0) && x["watermark_lag_ms"].is_i64()) {
            let ops = m["operators"].as_array().expect("operators");
            assert!(ops.iter().any(|o| o["name"].as_str().is_some_and(|n| n.starts_with("Sink(table=[nexmark_q1]")) && o["records_in"].as_u64() > Some(0)), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "no series: {m}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (st, d) = s.call("POST", "/api/v1/deployments/q1/stop", Some(json!({})));
    assert_eq!((st, d["state"].clone()), (200, json!("CANCELLED")), "{d}");
}

/// `rask job …` drives deployments through the API.
#[test]
fn job_commands_talk_to_the_server() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let _workers = Workers(data.clone());
    let s = Server::start(&data, None);
    let (st, r) = s.call(
        "POST",
        "/api/v1/statements",
        Some(json!({"sql": "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '100'); CREATE TABLE sink (id BIGINT) WITH ('connector' = 'blackhole')"})),
    );
    assert_eq!(st, 200, "{r}");
    let job = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rask")).arg("job").arg("--server").arg(format!("http://{}", s.addr)).args(args).output().expect("rask job");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let file = tmp.path().join("job.sql");
    std::fs::write(&file, "INSERT INTO sink SELECT id FROM src;\n").expect("write");
    let f = file.display().to_string();
    let (ok, out) = job(&["submit", "--name", "j", "-p", "2", "--set", "execution.checkpointing.interval=300 ms", &f]);
    assert!(ok && out.contains("RUNNING"), "{out}");
    let (ok, out) = job(&["list"]);
    assert!(ok && out.contains("j ") && out.contains("RUNNING") && out.contains("p=2"), "{out}");
    std::thread::sleep(Duration::from_millis(800));
    // A savepoint while it runs: still RUNNING, the savepoint recorded.
    let (ok, out) = job(&["savepoint", "j"]);
    assert!(ok && out.contains("RUNNING") && out.contains("savepoint-"), "{out}");
    let (ok, out) = job(&["stop", "j"]);
    assert!(ok && out.contains("SUSPENDED") && out.contains("savepoint-"), "{out}");
    let (ok, out) = job(&["update", "j", "-p", "1"]);
    assert!(ok && out.contains("SUSPENDED") && out.contains("p=1"), "{out}");
    let (ok, out) = job(&["resume", "j"]);
    assert!(ok && out.contains("RUNNING"), "{out}");
    let (ok, out) = job(&["cancel", "j"]);
    assert!(ok && out.contains("CANCELLED"), "{out}");
    let (ok, out) = job(&["events", "j"]);
    assert!(ok && out.contains("SUSPENDED") && out.contains("CANCELLED"), "{out}");
    let (ok, out) = job(&["logs", "j"]);
    assert!(ok && !out.trim().is_empty(), "{out}");
    // Errors come back with their position and a failing exit code.
    std::fs::write(&file, "SET 'pipeline.name' = 'k';\nINSERT INTO sink SELECT nope FROM src;\n").expect("write");
    let (ok, out) = job(&["submit", "--name", "k", &f]);
    assert!(!ok && out.contains("No field named nope") && out.contains("(line 2, column 25)"), "{out}");
    let (ok, out) = job(&["stop", "nope"]);
    assert!(!ok && out.contains("no deployment 'nope'"), "{out}");
    // `rask sql --server`: the shell works on the server's catalog.
    let mut sh = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["sql", "--server", &format!("http://{}", s.addr)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rask sql");
    sh.stdin
        .take()
        .expect("stdin")
        .write_all(b"CREATE TABLE t3 (id BIGINT)\n  WITH ('connector' = 'blackhole');\nSHOW TABLES;\nCREATE TABLE t4 (id BIGINT) WITH ('connector' = 'nope');\n")
        .expect("write");
    let out = sh.wait_with_output().expect("shell");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Table 't3' created.") && stdout.lines().any(|l| l == "t3"), "{stdout}{stderr}");
    assert!(stderr.contains("unknown connector 'nope'") && stderr.contains("(line 1, column"), "{stderr}");
    let (_, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "SHOW TABLES"})));
    assert!(r[0]["rows"].as_array().is_some_and(|rows| rows.contains(&json!(["t3"]))), "{r}");
}

/// Poll `path` until `done` holds for its JSON (60 s at most).
fn poll(s: &Server, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, v) = s.call("GET", path, None);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// What the console builds on: validation, the catalog tree, the connector registry, SELECT
/// previews (bounded, unbounded with a row limit, updating, failing), the operator graph,
/// per-operator rates, busy ratio and state size, checkpoint history, a savepoint taken while
/// the job runs, a job failing inside its worker shown as RESTARTING with its exceptions, and
/// the page itself.
#[test]
fn console_api_previews_savepoints_and_restarts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let _workers = Workers(data.clone());
    let s = Server::start(&data, None);
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "1,a\n2,b\nthree,c\n").expect("write");
    let ddl = format!(
        "CREATE TABLE seq (id BIGINT, name STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '20', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '20', 'fields.name.length' = '3');\n\
         CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '2000', 'fields.id.min' = '1', 'fields.id.max' = '50');\n\
         CREATE TABLE sink (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');\n\
         CREATE TABLE bad (id INT, name STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         CREATE TABLE badsink (id INT, name STRING) WITH ('connector' = 'blackhole');\n\
         CREATE VIEW small AS SELECT id FROM seq WHERE id <= 5",
        bad.display()
    );
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": ddl})));
    assert_eq!(st, 200, "{r}");

    // Validation: nothing stored; errors with line and column; plans for jobs and queries.
    let (st, v) = s.call("POST", "/api/v1/validate", Some(json!({"sql": "CREATE TABLE x (a INT) WITH ('connector' = 'blackhole')"})));
    assert_eq!((st, v["kind"].clone()), (200, json!("ddl")), "{v}");
    let (_, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "SHOW TABLES"})));
    assert!(!r[0]["rows"].as_array().expect("rows").contains(&json!(["x"])), "{r}");
    let (st, v) = s.call("POST", "/api/v1/validate", Some(json!({"sql": "INSERT INTO sink\nSELECT id % 3, COUNT(*) FROM gen GROUP BY id % 3"})));
    assert_eq!((st, v["kind"].clone()), (200, json!("job")), "{v}");
    assert!(v["plan"].as_str().is_some_and(|p| p.contains("GroupAggregate")), "{v}");
    let (st, v) = s.call("POST", "/api/v1/validate", Some(json!({"sql": "SELECT id\nFROM seq\nWHERE nope > 1"})));
    assert_eq!((st, v["error"]["line"].clone()), (400, json!(3)), "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains("nope")), "{v}");

    // The catalog tree and the connector registry.
    let (st, t) = s.call("GET", "/api/v1/catalog", None);
    assert_eq!(st, 200, "{t}");
    let tables = t["databases"][0]["tables"].as_array().expect("tables").clone();
    let seq = tables.iter().find(|x| x["name"] == "seq").expect("seq");
    assert_eq!((seq["kind"].clone(), seq["connector"].clone()), (json!("TABLE"), json!("datagen")), "{seq}");
    assert_eq!(seq["columns"], json!([{"name": "id", "type": "BIGINT"}, {"name": "name", "type": "STRING"}]), "{seq}");
    assert!(seq["ddl"].as_str().is_some_and(|d| d.starts_with("CREATE TABLE seq")), "{seq}");
    let small = tables.iter().find(|x| x["name"] == "small").expect("small");
    assert_eq!((small["kind"].clone(), small["columns"][0]["name"].clone()), (json!("VIEW"), json!("id")), "{small}");
    let (_, c) = s.call("GET", "/api/v1/connectors", None);
    let kafka = c.as_array().expect("connectors").iter().find(|x| x["name"] == "kafka").expect("kafka").clone();
    assert_eq!((kafka["source"].clone(), kafka["sink"].clone(), kafka["lookup"].clone()), (json!(true), json!(true), json!(false)), "{kafka}");
    assert!(kafka["options"].as_array().expect("options").iter().any(|o| o["key"] == "topic"), "{kafka}");

    // Databases: created and used in a request, kept (with their tables) for later ones.
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "CREATE DATABASE shop; USE shop; CREATE TABLE orders (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '3')"})));
    assert_eq!(st, 200, "{r}");
    let (_, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "SHOW DATABASES; SHOW TABLES; USE shop; SHOW TABLES"})));
    assert_eq!((r[0]["rows"].clone(), r[3]["rows"].clone()), (json!([["default_database"], ["shop"]]), json!([["orders"]])), "{r}");
    assert!(!r[1]["rows"].as_array().expect("rows").contains(&json!(["orders"])), "{r}");
    let (_, t) = s.call("GET", "/api/v1/catalog", None);
    assert_eq!(t["databases"][1]["name"], "shop", "{t}");
    assert_eq!(t["databases"][1]["tables"][0]["name"], "orders", "{t}");
    assert!(t["databases"][1]["tables"][0]["ddl"].as_str().is_some_and(|d| d.starts_with("CREATE TABLE orders")), "{t}");
    let (_, p) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "SELECT id FROM shop.orders"})));
    let p = poll(&s, &format!("/api/v1/previews/{}", p["id"].as_str().expect("id")), "preview of a table in another database", |v| v["state"] != "RUNNING");
    assert_eq!((p["state"].clone(), p["total"].clone()), (json!("FINISHED"), json!(3)), "{p}");

    // Python functions in the catalog: stored, listed with their implementation, used by a
    // preview (with its 'python.files'), and refused with the reason when they cannot load.
    let udfs = tmp.path().join("udfs.py");
    std::fs::write(&udfs, "from pyflink.table.udf import udf\n\n@udf(result_type='BIGINT')\ndef twice(x):\n    return None if x is None else 2 * x\n").expect("udf file");
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "CREATE FUNCTION twice AS 'udfs.twice' LANGUAGE PYTHON; USE shop; CREATE FUNCTION nope AS 'udfs.nope' LANGUAGE PYTHON"})));
    assert_eq!(st, 200, "{r}");
    let (st, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "CREATE FUNCTION j AS 'com.example.J'"})));
    assert_eq!((st, r["error"]["line"].clone(), r["error"]["column"].clone()), (400, json!(1), json!(22)), "{r}");
    let (_, r) = s.call("POST", "/api/v1/statements", Some(json!({"sql": "SHOW USER FUNCTIONS; USE shop; SHOW USER FUNCTIONS"})));
    assert_eq!((r[0]["rows"].clone(), r[2]["rows"].clone()), (json!([["twice"]]), json!([["nope"]])), "{r}");
    let (_, t) = s.call("GET", "/api/v1/catalog", None);
    assert_eq!(t["databases"][0]["functions"][0]["identifier"], "udfs.twice", "{t}");
    assert!(t["databases"][1]["functions"][0]["ddl"].as_str().is_some_and(|d| d.starts_with("CREATE FUNCTION nope")), "{t}");
    let sql = format!("SET 'python.files' = '{}';\nSELECT id, twice(id) AS t FROM small", udfs.display());
    let (st, p) = s.call("POST", "/api/v1/previews", Some(json!({"sql": sql})));
    assert_eq!(st, 201, "{p}");
    let p = poll(&s, &format!("/api/v1/previews/{}", p["id"].as_str().expect("id")), "preview with a Python function", |v| v["state"] != "RUNNING");
    let rows: Vec<Value> = p["rows"].as_array().expect("rows").iter().map(|r| r["values"].clone()).collect();
    assert_eq!(rows, (1..=5).map(|i| json!([i.to_string(), (2 * i).to_string()])).collect::<Vec<_>>(), "{p}");
    let sql = format!("SET 'python.files' = '{}';\nSELECT shop.nope(id) FROM small", udfs.display());
    let (st, e) = s.call("POST", "/api/v1/validate", Some(json!({"sql": sql})));
    assert!(st == 400 && e["error"]["message"].as_str().is_some_and(|m| m.contains("has no attribute 'nope'")), "{e}");

    // Previews: a bounded SELECT finishes with its rows; an unbounded one stops at max_rows;
    // an updating one returns its changelog; errors say where.
    let (st, p) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "SELECT id, id > 2 AS ok, CAST(NULL AS INT) AS z FROM small"})));
    assert_eq!(st, 201, "{p}");
    assert_eq!(p["columns"], json!(["id", "ok", "z"]), "{p}");
    let id = p["id"].as_str().expect("id").to_string();
    let p = poll(&s, &format!("/api/v1/previews/{id}"), "bounded preview", |v| v["state"] != "RUNNING");
    assert_eq!(p["state"], "FINISHED", "{p}");
    let ids: Vec<Value> = p["rows"].as_array().expect("rows").iter().map(|r| r["values"][0].clone()).collect();
    assert_eq!(ids, vec![json!("1"), json!("2"), json!("3"), json!("4"), json!("5")], "{p}");
    assert_eq!((p["rows"][0]["kind"].clone(), p["rows"][0]["values"][1].clone(), p["rows"][0]["values"][2].clone()), (json!("+I"), json!("false"), Value::Null), "{p}");
    let (_, p2) = s.call("GET", &format!("/api/v1/previews/{id}?after=3"), None);
    assert_eq!((p2["total"].clone(), p2["rows"].as_array().map(Vec::len)), (json!(5), Some(2)), "{p2}");
    let (st, p) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "SELECT id FROM gen", "max_rows": 7})));
    assert_eq!(st, 201, "{p}");
    let p = poll(&s, &format!("/api/v1/previews/{}", p["id"].as_str().expect("id")), "unbounded preview", |v| v["state"] != "RUNNING");
    assert_eq!((p["state"].clone(), p["total"].clone(), p["message"].clone()), (json!("FINISHED"), json!(7), json!("stopped after 7 rows")), "{p}");
    let (_, p) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "SELECT id % 2 AS k, COUNT(*) AS n FROM seq GROUP BY id % 2"})));
    let p = poll(&s, &format!("/api/v1/previews/{}", p["id"].as_str().expect("id")), "updating preview", |v| v["state"] != "RUNNING");
    let kinds: std::collections::BTreeSet<String> = p["rows"].as_array().expect("rows").iter().map(|r| r["kind"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["+I", "+U", "-U"], "{p}");
    assert_eq!((p["state"].clone(), p["total"].clone()), (json!("FINISHED"), json!(38)), "{p}");
    let (st, e) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "SELECT id FROM\nnope"})));
    assert_eq!((st, e["error"]["line"].clone()), (400, json!(2)), "{e}");
    let (st, e) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "INSERT INTO sink SELECT id, id FROM gen"})));
    assert_eq!((st, e["error"]["code"].clone()), (400, json!("sql_validation")), "{e}");
    let (_, p) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "SELECT * FROM bad"})));
    let p = poll(&s, &format!("/api/v1/previews/{}", p["id"].as_str().expect("id")), "failing preview", |v| v["state"] != "RUNNING");
    assert_eq!(p["state"], "FAILED", "{p}");
    assert!(p["error"].as_str().is_some_and(|e| e.contains("bad.csv") && e.contains("line 3")), "{p}");
    // A running preview is cancelled.
    let (_, p) = s.call("POST", "/api/v1/previews", Some(json!({"sql": "SELECT id FROM gen WHERE id > 1000"})));
    let pid = p["id"].as_str().expect("id").to_string();
    assert_eq!(s.call("DELETE", &format!("/api/v1/previews/{pid}"), None).0, 204);
    assert_eq!(s.call("GET", &format!("/api/v1/previews/{pid}"), None).1["state"], "CANCELLED");

    // A running job: graph, live figures, rates, busy ratio, state size, checkpoints.
    let (st, d) = s.call(
        "POST",
        "/api/v1/deployments",
        Some(json!({"name": "agg", "sql": "INSERT INTO sink SELECT id % 3, COUNT(*) FROM gen GROUP BY id % 3", "parallelism": 2, "config": {"execution.checkpointing.interval": "500 ms"}})),
    );
    assert_eq!(st, 201, "{d}");
    let (_, g) = s.call("GET", "/api/v1/deployments/agg/plan", None);
    let nodes = g["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|n| n["parallelism"] == 2), "{g}");
    assert!(nodes.iter().any(|n| n["name"].as_str().is_some_and(|x| x.starts_with("GroupAggregate")) && n["inputs"][0]["exchange"].as_str().is_some_and(|e| e.starts_with("hash["))), "{g}");
    let m = poll(&s, "/api/v1/deployments/agg/metrics", "operator figures", |m| {
        let ops = m["operators"].as_array().cloned().unwrap_or_default();
        let agg = ops.iter().find(|o| o["name"].as_str().is_some_and(|n| n.starts_with("GroupAggregate")));
        agg.is_some_and(|a| a["records_in_per_s"].as_f64() > Some(100.0) && a["state_bytes"].as_u64() > Some(0) && a["busy_ratio"].as_f64() > Some(0.0))
            && m["series"].as_array().and_then(|x| x.last()).is_some_and(|x| x["checkpoint_size_bytes"].as_u64() > Some(0) && x["checkpoint_duration_ms"].is_u64())
    });
    for o in m["operators"].as_array().expect("ops") {
        assert!(o["busy_ratio"].as_f64().is_some_and(|b| (0.0..=1.0).contains(&b)) && o["parallelism"] == 2, "{o}");
    }
    let d = poll(&s, "/api/v1/deployments/agg", "live status", |d| d["live"]["read_per_s"].as_f64() > Some(100.0) && d["live"]["last_checkpoint"]["id"].is_u64());
    assert!(d["live"]["started_at"].as_i64() > Some(0), "{d}");
    let (_, text) = s.call("GET", "/metrics", None);
    let text = text.as_str().unwrap_or_default().to_string();
    assert!(text.contains("rask_operator_busy_ratio{deployment=\"agg\"") && text.contains("rask_checkpoint_last_size_bytes{deployment=\"agg\"}"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("rask_operator_state_bytes{deployment=\"agg\"") && !l.ends_with(" 0")), "{text}");
    // A savepoint while it runs.
    let (st, d) = s.call("POST", "/api/v1/deployments/agg/savepoint", None);
    assert_eq!((st, d["state"].clone()), (200, json!("RUNNING")), "{d}");
    let sp = d["last_savepoint"].as_str().expect("savepoint").to_string();
    assert!(Path::new(&sp).join("_metadata").exists(), "{d}");
    let (_, cks) = s.call("GET", "/api/v1/deployments/agg/checkpoints", None);
    let cks = cks.as_array().expect("checkpoints");
    assert!(cks.iter().any(|c| c["kind"] == "savepoint" && c["path"] == sp.as_str() && c["size_bytes"].as_u64() > Some(0)), "{cks:?}");
    assert!(cks.iter().any(|c| c["kind"] == "checkpoint" && c["duration_ms"].is_u64()), "{cks:?}");
    assert_eq!(s.call("GET", "/api/v1/deployments/agg", None).1["state"], "RUNNING");
    let (st, d) = s.call("POST", "/api/v1/deployments/agg/stop", Some(json!({"savepoint": true})));
    assert_eq!((st, d["state"].clone()), (200, json!("SUSPENDED")), "{d}");
    assert_ne!(d["last_savepoint"], json!(sp), "{d}");
    let (st, r) = s.call("POST", "/api/v1/deployments/agg/savepoint", None);
    assert_eq!((st, r["error"]["code"].clone()), (409, json!("conflict")), "{r}");

    // A job failing inside its worker restarts (RESTARTING in the history), then fails; the
    // exceptions say why, with the file and line.
    let (st, d) = s.call(
        "POST",
        "/api/v1/deployments",
        Some(json!({"name": "broken", "sql": "INSERT INTO badsink SELECT * FROM bad", "config": {"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "1", "restart-strategy.fixed-delay.delay": "1 s"}})),
    );
    assert_eq!(st, 201, "{d}");
    wait_state(&s, "broken", "FAILED");
    let (_, ev) = s.call("GET", "/api/v1/deployments/broken/events", None);
    let states: Vec<&str> = ev.as_array().expect("events").iter().filter_map(|e| e["state"].as_str()).collect();
    assert_eq!(states, ["CREATED", "RUNNING", "FAILING", "RESTARTING", "RUNNING", "FAILING", "FAILED"], "{ev}");
    let (_, ex) = s.call("GET", "/api/v1/deployments/broken/exceptions", None);
    let ex = ex.as_array().expect("exceptions");
    assert!(ex.len() >= 2 && ex.iter().all(|e| e["message"].as_str().is_some_and(|m| m.contains("bad.csv") && m.contains("line 3"))), "{ex:?}");
    assert_eq!(ex.iter().filter(|e| e["restarted"] == true).count(), 1, "{ex:?}");

    // The console page, and API paths that do not exist stay JSON errors.
    let (st, page) = s.call("GET", "/", None);
    assert!(st == 200 && page.as_str().is_some_and(|p| p.contains("<html") || p.contains("<!doctype html")), "{page}");
    let (st, page) = s.call("GET", "/jobs/agg", None);
    assert_eq!(st, 200, "{page}");
    let (st, e) = s.call("GET", "/api/v1/nope", None);
    assert_eq!((st, e["error"]["code"].clone()), (404, json!("not_found")), "{e}");
}
