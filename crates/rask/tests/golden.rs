//! The golden SQL suite: every `tests/golden/*.slt` file is run at parallelism 1 and 2.
//!
//! Format (records separated by a blank line; `#` starts a comment line):
//! - `file NAME` + lines + `end`: write a file under the test's directory (`$DIR`);
//! - `statement ok` + SQL: DDL/SET that must succeed;
//! - `statement error TEXT` + SQL: must fail with a message containing TEXT;
//! - `query` + SQL + `----` + rows: run the INSERT/SELECT as a job; the rows it prints
//!   (subtask prefixes removed, sorted) must equal the expected rows (also sorted);
//! - `query p1` + SQL + `----` + rows: as `query`, at parallelism 1 only — for results that
//!   depend on which rows are behind the watermark when they arrive: at parallelism 2 the
//!   source subtask without input ends at an arbitrary point relative to the other's rows, so
//!   the downstream watermark lags by a varying amount (in Flink too);
//! - `query changelog` + SQL + `----` + rows: an updating query's changelog (`+I`/`-U`/`+U`/`-D`
//!   rows); at parallelism 1 the rows must come in exactly the expected order (Flink's order
//!   for the same input order), at parallelism 2 the table they materialise must be the same;
//! - `query changelog table` + SQL + `----` + rows: as `query changelog`, but only the table
//!   the changelog materialises is compared, at both parallelisms — for operators with two
//!   inputs (joins), whose changelog depends on how the inputs' rows interleave, which neither
//!   Flink nor Rask fixes (each input's own order is kept);
//! - `query error TEXT` + SQL: the job must fail with a message containing TEXT;
//! - `explain` + SQL + `----` + plan: `EXPLAIN` output at parallelism 1 (skipped at 2);
//! - `rows` + SQL + `----` + table rows (`a | b`): SHOW / DESCRIBE output;
//! - `files NAME` + `----` + lines: the lines of the files under `$DIR/NAME` (sorted);
//! - `partitions NAME` + `----` + lines: the files under `$DIR/NAME` by directory — each data
//!   line as `DIR: line`, each marker file (`_SUCCESS`) as `DIR/NAME` (sorted).
//!
//! `$DIR` in SQL and expected text is replaced by the test's temporary directory.
//! `RASK_GOLDEN=name` runs only the files whose path contains `name`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rask_connectors::builtin_registry;
use rask_runtime::connector::MemoryPrint;
use rask_runtime::metrics::JobMetrics;
use rask_runtime::{run_job, Cluster, JobOptions};
use rask_sql::parser::parse_script;
use rask_sql::{Outcome, Session};

mod common;
use common::materialise;


/// `2> +I[..]` → `+I[..]`, `id:2> +I[..]` → `id> +I[..]`.
fn strip_subtask(line: &str) -> String {
    if let Some((prefix, rest)) = line.split_once("> ") {
        if let Some((id, n)) = prefix.rsplit_once(':')
            && n.chars().all(|c| c.is_ascii_digit())
        {
            return format!("{id}> {rest}");
        }
        if prefix.chars().all(|c| c.is_ascii_digit()) {
            return rest.to_string();
        }
    }
    line.to_string()
}

struct Record {
    kind: String,
    arg: String,
    sql: String,
    expected: Vec<String>,
    line: usize,
}

fn parse_records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim().is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let (kind, arg) = l.split_once(' ').map(|(k, a)| (k.to_string(), a.trim().to_string())).unwrap_or((l.to_string(), String::new()));
        i += 1;
        if kind == "file" {
            let mut body = Vec::new();
            while i < lines.len() && lines[i] != "end" {
                body.push(lines[i].to_string());
                i += 1;
            }
            i += 1;
            out.push(Record { kind, arg, sql: String::new(), expected: body, line: start });
            continue;
        }
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i] != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let mut expected = Vec::new();
        if i < lines.len() && lines[i] == "----" {
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() {
                expected.push(lines[i].to_string());
                i += 1;
            }
        }
        out.push(Record { kind, arg, sql: sql.join("\n"), expected, line: start });
    }
    out
}

fn run_query(session: &mut Session, sql: &str, parallelism: usize) -> Result<Vec<String>, String> {
    let stmts = parse_script(sql).map_err(|e| e.to_string())?;
    let mut plans = Vec::new();
    for s in &stmts {
        match session.execute(s).map_err(|e| e.to_string())? {
            Outcome::Job(p) => plans.push(p),
            other => return Err(format!("expected a job, got {other:?}")),
        }
    }
    let capture = Arc::new(MemoryPrint::default());
    for plan in plans {
        let plan = Arc::new(plan);
        let metrics = Arc::new(JobMetrics::new(&plan, parallelism));
        let opts = JobOptions {
            cluster: Cluster::Local { threads: parallelism },
            batch_size: 3, // small batches exercise batch boundaries
            print: capture.clone(),
            cancel: Arc::new(AtomicBool::new(false)),
            checkpointing: None,
        };
        run_job(plan, builtin_registry(), opts, metrics).map_err(|e| e.to_string())?;
    }
    let lines = capture.lines().iter().map(|l| strip_subtask(l)).collect();
    Ok(lines)
}

fn read_files(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                lines.extend(t.lines().map(|l| l.to_string()));
            }
        }
    }
    lines
}

/// The files under `dir` relative to `root`: `DIR: line` per data line, `DIR/NAME` per marker
/// file (a name starting with '_'); hidden files ('.') are skipped.
fn read_partitions(root: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    let rel = dir.strip_prefix(root).map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            out.extend(read_partitions(root, &p));
        } else if name.starts_with('_') {
            out.push(format!("{rel}/{name}"));
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            out.extend(t.lines().map(|l| format!("{rel}: {l}")));
        }
    }
    out
}

fn run_file(path: &Path, parallelism: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let sub = |s: &str| s.replace("$DIR", &d);
    let mut session = Session::new(Arc::new(builtin_registry()));
    session.set_option("parallelism.default", &parallelism.to_string());
    let mut failures = Vec::new();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    for r in parse_records(&text) {
        let at = format!("{name}:{} (parallelism {parallelism})", r.line);
        let sql = sub(&r.sql);
        let expected: Vec<String> = r.expected.iter().map(|l| sub(l)).collect();
        match r.kind.as_str() {
            "file" => {
                let p = dir.path().join(&r.arg);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                let mut body = expected.join("\n");
                body.push('\n');
                std::fs::write(p, body).unwrap();
            }
            "statement" => {
                let res = parse_script(&sql).map_err(|e| e.to_string()).and_then(|stmts| {
                    for s in &stmts {
                        session.execute(s).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                });
                match (r.arg.as_str(), res) {
                    ("ok", Ok(())) => {}
                    ("ok", Err(e)) => failures.push(format!("{at}: statement failed: {e}")),
                    (_, Ok(())) => failures.push(format!("{at}: statement should have failed with '{}'", r.arg)),
                    (want, Err(e)) => {
                        let want = sub(want.strip_prefix("error").unwrap_or(want).trim());
                        if !e.contains(&want) {
                            failures.push(format!("{at}: error\n  {e}\ndoes not contain\n  {want}"));
                        }
                    }
                }
            }
            "query" if r.arg == "changelog" || r.arg == "changelog table" => match run_query(&mut session, &sql, parallelism) {
                Ok(got) if parallelism == 1 && r.arg == "changelog" => {
                    if got != expected {
                        failures.push(format!("{at}: changelog differs\n--- expected\n{}\n--- got\n{}", expected.join("\n"), got.join("\n")));
                    }
                }
                Ok(got) => match (materialise(&expected), materialise(&got)) {
                    (Ok(want), Ok(got)) if want == got => {}
                    (Ok(want), Ok(got)) => {
                        failures.push(format!("{at}: final table differs\n--- expected\n{}\n--- got\n{}", want.join("\n"), got.join("\n")))
                    }
                    (Err(e), _) => failures.push(format!("{at}: expected changelog: {e}")),
                    (_, Err(e)) => failures.push(format!("{at}: changelog: {e}")),
                },
                Err(e) => failures.push(format!("{at}: query failed: {e}")),
            },
            "query" => {
                if r.arg == "p1" && parallelism != 1 {
                    continue;
                }
                let res = run_query(&mut session, &sql, parallelism);
                match (r.arg.is_empty() || r.arg == "p1", res) {
                    (true, Ok(mut got)) => {
                        let mut want = expected.clone();
                        got.sort();
                        want.sort();
                        if got != want {
                            failures.push(format!("{at}: rows differ\n--- expected\n{}\n--- got\n{}", want.join("\n"), got.join("\n")));
                        }
                    }
                    (true, Err(e)) => failures.push(format!("{at}: query failed: {e}")),
                    (false, Ok(_)) => failures.push(format!("{at}: query should have failed with '{}'", r.arg)),
                    (false, Err(e)) => {
                        let want = sub(r.arg.strip_prefix("error").unwrap_or(&r.arg).trim());
                        if !e.contains(&want) {
                            failures.push(format!("{at}: error\n  {e}\ndoes not contain\n  {want}"));
                        }
                    }
                }
            }
            "explain" => {
                if parallelism != 1 {
                    continue;
                }
                let res = parse_script(&format!("EXPLAIN {sql}")).map_err(|e| e.to_string()).and_then(|s| session.execute(&s[0]).map_err(|e| e.to_string()));
                match res {
                    Ok(Outcome::Explain(t)) => {
                        let got: Vec<String> = t.lines().map(|l| l.to_string()).collect();
                        if got != expected {
                            failures.push(format!("{at}: plan differs\n--- expected\n{}\n--- got\n{}", expected.join("\n"), got.join("\n")));
                        }
                    }
                    Ok(o) => failures.push(format!("{at}: expected a plan, got {o:?}")),
                    Err(e) => failures.push(format!("{at}: explain failed: {e}")),
                }
            }
            "rows" => {
                let res = parse_script(&sql).map_err(|e| e.to_string()).and_then(|s| session.execute(&s[0]).map_err(|e| e.to_string()));
                match res {
                    Ok(Outcome::Rows { rows, .. }) => {
                        let got: Vec<String> = rows.iter().map(|r| r.join(" | ").trim_end_matches([' ', '|']).to_string()).collect();
                        if got != expected {
                            failures.push(format!("{at}: rows differ\n--- expected\n{}\n--- got\n{}", expected.join("\n"), got.join("\n")));
                        }
                    }
                    Ok(o) => failures.push(format!("{at}: expected rows, got {o:?}")),
                    Err(e) => failures.push(format!("{at}: failed: {e}")),
                }
            }
            "partitions" => {
                let root = dir.path().join(&r.arg);
                let mut got = read_partitions(&root, &root);
                let mut want = expected.clone();
                got.sort();
                want.sort();
                if got != want {
                    failures.push(format!("{at}: partitions differ\n--- expected\n{}\n--- got\n{}", want.join("\n"), got.join("\n")));
                }
            }
            "files" => {
                let mut got = read_files(&dir.path().join(&r.arg));
                let mut want = expected.clone();
                got.sort();
                want.sort();
                if got != want {
                    failures.push(format!("{at}: files differ\n--- expected\n{}\n--- got\n{}", want.join("\n"), got.join("\n")));
                }
            }
            other => failures.push(format!("{at}: unknown record kind '{other}'")),
        }
    }
    failures
}

fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    v.sort();
    v
}

#[test]
fn golden_suite() {
    // RASK_GOLDEN=name runs only the files whose name contains it (while working on one).
    let only = std::env::var("RASK_GOLDEN").unwrap_or_default();
    let files: Vec<_> = golden_files().into_iter().filter(|f| f.to_string_lossy().contains(&only)).collect();
    assert!(!files.is_empty(), "no golden files found");
    let mut failures = Vec::new();
    for f in &files {
        for p in [1, 2] {
            failures.extend(run_file(f, p));
        }
    }
    if !failures.is_empty() {
        panic!("{} golden failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
    }
    eprintln!("golden: {} files passed at parallelism 1 and 2", files.len());
}
