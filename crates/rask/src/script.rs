//! Executing SQL scripts and shell input: DDL and SET update the session, DML statements are
//! planned in place and run together as one job.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, bail, Context, Result};
use rask_connectors::builtin_registry;
use rask_runtime::connector::Stdout;
use rask_runtime::metrics::JobMetrics;
use rask_runtime::{run_job, Cluster, JobOptions};
use rask_sql::parser::{parse_script, FlinkStatement};
use rask_sql::plan::{Input, PlanNode};
use rask_sql::{Outcome, Session, SqlError, StreamPlan};
use rask_types::options::Options;

use crate::progress::{summary, Progress};
use crate::ExecArgs;

/// Render a SQL error with the offending line and a caret under the column.
pub fn render_sql_error(e: &SqlError, sql: &str, file: &str) -> anyhow::Error {
    let mut msg = format!("{file}: {e}");
    if let Some(pos) = e.pos().filter(|p| !p.is_unknown())
        && let Some(line) = sql.lines().nth(pos.line as usize - 1) {
            let n = pos.line.to_string();
            msg.push_str(&format!("\n {n} | {line}\n {} | {}^", " ".repeat(n.len()), " ".repeat(pos.column.saturating_sub(1) as usize)));
        }
    anyhow!(msg)
}

/// Concatenate jobs into one plan (node ids shifted).
fn merge(plans: Vec<StreamPlan>, config: Options) -> StreamPlan {
    let mut nodes: Vec<PlanNode> = Vec::new();
    for p in plans {
        let off = nodes.len();
        for mut n in p.nodes {
            n.id += off;
            n.inputs = n.inputs.into_iter().map(|i| Input { node: i.node + off, exchange: i.exchange }).collect();
            nodes.push(n);
        }
    }
    StreamPlan { nodes, config }
}

fn print_rows(header: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.len());
            }
        }
    }
    let sep = format!("+{}+", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
    let line = |cells: &[String]| {
        format!("|{}|", cells.iter().zip(&widths).map(|(c, w)| format!(" {c:<w$} ")).collect::<Vec<_>>().join("|"))
    };
    println!("{sep}\n{}\n{sep}", line(header));
    for r in rows {
        println!("{}", line(r));
    }
    println!("{sep}\n{} row{} in set", rows.len(), if rows.len() == 1 { "" } else { "s" });
}

/// Execute a script's statements; returns the merged job, if it has DML.
fn execute_script(session: &mut Session, sql: &str, file: &str, verbose: bool) -> Result<Option<StreamPlan>> {
    let stmts = parse_script(sql).map_err(|e| render_sql_error(&e, sql, file))?;
    let mut jobs = Vec::new();
    for s in stmts {
        match session.execute(&s).map_err(|e| render_sql_error(&e, sql, file))? {
            Outcome::Job(p) => jobs.push(p),
            Outcome::Done(m) => {
                if verbose {
                    eprintln!("[INFO] {m}");
                }
            }
            Outcome::Rows { header, rows } => print_rows(&header, &rows),
            Outcome::Explain(text) => println!("{text}"),
        }
    }
    if jobs.is_empty() {
        return Ok(None);
    }
    Ok(Some(merge(jobs, session.options())))
}

pub fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<Mutex<Arc<AtomicBool>>>> = OnceLock::new();
    let holder = FLAG.get_or_init(|| {
        let h: Arc<Mutex<Arc<AtomicBool>>> = Arc::new(Mutex::new(Arc::new(AtomicBool::new(false))));
        let hh = h.clone();
        let _ = ctrlc::set_handler(move || {
            if let Ok(f) = hh.lock() {
                if f.swap(true, Ordering::SeqCst) {
                    eprintln!("\nInterrupted twice: exiting.");
                    std::process::exit(130);
                }
                eprintln!("\nCancelling the job (Ctrl-C again to exit now)…");
            }
        });
        h
    });
    let fresh = Arc::new(AtomicBool::new(false));
    if let Ok(mut f) = holder.lock() {
        *f = fresh.clone();
    }
    fresh
}

fn parallelism_of(plan: &StreamPlan, exec: &ExecArgs) -> usize {
    exec.parallelism
        .or_else(|| plan.config.int("parallelism.default").ok().flatten().map(|v| v.max(1) as usize))
        .unwrap_or(1)
        .max(1)
}

/// The sinks' latency percentiles of the last job this process ran (for `--usage-out`).
pub static LAST_LATENCY: Mutex<Option<(f64, f64)>> = Mutex::new(None);

/// Run one job in this process (or as one process of a cluster).
fn run_plan(plan: StreamPlan, exec: &ExecArgs) -> Result<()> {
    let cluster = match exec.process_index {
        Some(i) => Cluster::Processes { threads: exec.workers.max(1), process: i, addresses: exec.hosts.clone() },
        None => Cluster::Local { threads: parallelism_of(&plan, exec) },
    };
    let label = match exec.process_index {
        Some(i) => format!("[process {i}]"),
        None => "[rask]".to_string(),
    };
    let plan = Arc::new(plan);
    let metrics = Arc::new(JobMetrics::new(&plan, cluster.threads()));
    let opts = JobOptions { cluster, batch_size: exec.batch_size.max(1), print: Arc::new(Stdout), cancel: cancel_flag() };
    let progress = Progress::start(metrics.clone(), &exec.progress, label.clone());
    let r = run_job(plan, builtin_registry(), opts, metrics);
    progress.finish();
    match r {
        Ok(s) => {
            if let Ok(mut l) = LAST_LATENCY.lock() {
                *l = s.sink_latency_ms;
            }
            if exec.progress != "none" {
                eprintln!("{label} {}", summary(&s));
            }
            Ok(())
        }
        Err(e) => Err(anyhow!("{label} job failed ({}): {e}", e.fault())),
    }
}

pub fn run_file(path: &Path, exec: &ExecArgs) -> Result<()> {
    let sql = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.display().to_string();
    if let (Some(n), None) = (exec.processes, exec.process_index) {
        // Validate once here, so that SQL errors are reported once, not by every process.
        let mut session = Session::new(Arc::new(builtin_registry()));
        if execute_script(&mut session, &sql, &file, false)?.is_none() {
            bail!("{file}: the script has no INSERT or SELECT statement to run");
        }
        return crate::cluster::run_local_cluster(path, n, exec);
    }
    let mut session = Session::new(Arc::new(builtin_registry()));
    if let Some(p) = exec.parallelism {
        session.set_option("parallelism.default", &p.to_string());
    }
    let verbose = exec.process_index.is_none() && exec.progress != "none";
    match execute_script(&mut session, &sql, &file, verbose)? {
        Some(plan) => run_plan(plan, exec),
        None => Ok(()),
    }
}

pub fn explain_file(path: &Path, parallelism: Option<usize>) -> Result<()> {
    let sql = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.display().to_string();
    let mut session = Session::new(Arc::new(builtin_registry()));
    if let Some(p) = parallelism {
        session.set_option("parallelism.default", &p.to_string());
    }
    let stmts = parse_script(&sql).map_err(|e| render_sql_error(&e, &sql, &file))?;
    let mut jobs = Vec::new();
    for s in stmts {
        let explained = match &s.stmt {
            FlinkStatement::Insert(_) | FlinkStatement::StatementSet(_) | FlinkStatement::Query(_) => {
                let wrapped = rask_sql::parser::Located { stmt: FlinkStatement::Explain(Box::new(s.clone())), pos: s.pos, text: s.text.clone() };
                session.execute(&wrapped)
            }
            _ => session.execute(&s),
        };
        match explained.map_err(|e| render_sql_error(&e, &sql, &file))? {
            Outcome::Explain(t) => jobs.push(t),
            Outcome::Rows { header, rows } => print_rows(&header, &rows),
            _ => {}
        }
    }
    if jobs.is_empty() {
        bail!("{file}: the script has no INSERT or SELECT statement to explain");
    }
    for j in jobs {
        println!("{j}");
    }
    Ok(())
}

pub fn shell(exec: &ExecArgs) -> Result<()> {
    let mut session = Session::new(Arc::new(builtin_registry()));
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut buf = String::new();
    if interactive {
        eprintln!("Rask SQL shell. Statements end with ';'. Ctrl-C stops a running job; Ctrl-D exits.");
    }
    loop {
        if interactive {
            eprint!("{}", if buf.is_empty() { "rask> " } else { "   -> " });
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        buf.push_str(&line);
        if !line.trim_end().ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut buf);
        match execute_script(&mut session, &sql, "<input>", true) {
            Ok(Some(plan)) => {
                if let Err(e) = run_plan(plan, exec) {
                    eprintln!("{e:#}");
                }
            }
            Ok(None) => {}
            Err(e) => eprintln!("{e:#}"),
        }
    }
    Ok(())
}

pub fn list_connectors() {
    let reg = builtin_registry();
    for c in reg.all() {
        println!("{} — {}", c.name(), c.description());
        let mut opts = std::collections::BTreeMap::new();
        if c.name() == "filesystem" {
            opts.insert("format".to_string(), "json".to_string());
        }
        for s in c.option_specs(&Options::new(opts)) {
            let req = if s.required { " (required)" } else { "" };
            let def = s.default.map(|d| format!(" [default: {d}]")).unwrap_or_default();
            println!("    {}{req}{def}: {}", s.key, s.doc);
        }
    }
}
