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
use rask_runtime::job::checkpoint_dir;
use rask_runtime::{run_job, Checkpointing, Cluster, JobOptions};
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

/// Raised by SIGUSR1: take a savepoint and keep running (how `rask server` triggers one; the
/// supervising `rask run` forwards it to its workers). Registered when `rask run` starts.
pub fn savepoint_signal() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let f = Arc::new(AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGUSR1, f.clone()) {
            eprintln!("[rask] cannot listen for SIGUSR1 (savepoint requests): {e}");
        }
        f
    })
    .clone()
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
fn run_plan(plan: StreamPlan, exec: &ExecArgs, at_start: bool) -> Result<()> {
    let cluster = match exec.process_index {
        Some(i) => Cluster::Processes { threads: exec.workers.max(1), process: i, addresses: exec.hosts.clone() },
        None => Cluster::Local { threads: parallelism_of(&plan, exec) },
    };
    let label = match exec.process_index {
        Some(i) => format!("[process {i}]"),
        None => "[rask]".to_string(),
    };
    let savepoint_dir = savepoint_dir(&plan, exec);
    let mut checkpointing = Checkpointing::open(&plan, exec.from_savepoint.as_deref(), savepoint_dir.as_deref(), exec.allow_non_restored_state, at_start)
        .map_err(|e| anyhow!("{label} {e}"))?;
    if let Some(c) = checkpointing.as_mut() {
        c.savepoint_trigger = savepoint_signal();
    }
    let plan = Arc::new(plan);
    let metrics = Arc::new(JobMetrics::new(&plan, cluster.threads()));
    let opts = JobOptions { cluster, batch_size: exec.batch_size.max(1), print: Arc::new(Stdout), cancel: cancel_flag(), checkpointing };
    let progress = Progress::start(metrics.clone(), &exec.progress, label.clone());
    let metrics_file = crate::metrics_file::MetricsFile::start(metrics.clone(), exec.metrics_file.clone());
    let r = run_job(plan, builtin_registry(), opts, metrics);
    progress.finish();
    metrics_file.finish();
    match r {
        Ok(s) => {
            if let Ok(mut l) = LAST_LATENCY.lock() {
                *l = s.sink_latency_ms;
            }
            if exec.progress != "none" {
                eprintln!("{label} {}", summary(&s));
            }
            if let Some(p) = &s.savepoint {
                eprintln!("{label} savepoint written to {p}; resume with --from-savepoint {p}");
            }
            Ok(())
        }
        Err(e) => Err(anyhow!("{label} job failed ({}): {e}", e.fault())),
    }
}

/// Where stop-with-savepoint writes: `--savepoint-dir`, else Flink's option.
fn savepoint_dir(plan: &StreamPlan, exec: &ExecArgs) -> Option<String> {
    exec.savepoint_dir
        .clone()
        .or_else(|| plan.config.get("execution.checkpointing.savepoint-dir").or_else(|| plan.config.get("state.savepoints.dir")).map(|s| s.to_string()))
}

pub fn run_file(path: &Path, exec: &ExecArgs) -> Result<()> {
    let sql = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.display().to_string();
    let worker = exec.worker || exec.process_index.is_some();
    if worker {
        crate::cluster::bind_to_supervisor();
    }
    let mut session = Session::new(Arc::new(builtin_registry()));
    if let Some(p) = exec.parallelism {
        session.set_option("parallelism.default", &p.to_string());
    }
    let verbose = !worker && exec.progress != "none";
    let Some(plan) = execute_script(&mut session, &sql, &file, verbose)? else {
        if exec.processes.is_some() {
            bail!("{file}: the script has no INSERT or SELECT statement to run");
        }
        return Ok(());
    };
    if worker {
        return run_plan(plan, exec, false);
    }
    let dir = checkpoint_dir(&plan);
    if dir.is_none() && exec.processes.is_none() {
        return run_plan(plan, exec, true);
    }
    // Supervised: worker process(es), restarted from the latest checkpoint on failure.
    let restart = crate::cluster::RestartStrategy::from_plan(&plan, dir.is_some())?;
    let started_ms = rask_types::now_ms();
    let mut attempt = 0;
    let mut first_choice: Option<String> = None;
    let plan_ref = &plan;
    let restore_from = move || -> Result<Option<String>> {
        attempt += 1;
        let Some(dir) = checkpoint_dir(plan_ref) else { return Ok(exec.from_savepoint.clone()) };
        let ck = Checkpointing::open(plan_ref, None, None, exec.allow_non_restored_state, true).map_err(|e| anyhow!("[rask] {e}"))?;
        let latest = ck.and_then(|c| c.restore).map(|(_, m)| m);
        let chosen = match latest {
            // The first attempt resumes whatever the directory holds (unless told otherwise);
            // later ones only what this run checkpointed.
            Some(m) if (attempt == 1 && exec.from_savepoint.is_none()) || (attempt > 1 && m.created_ms >= started_ms) => {
                let at = chrono::DateTime::from_timestamp_millis(m.created_ms).map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()).unwrap_or_default();
                if m.finished {
                    eprintln!("[rask] the job already finished (final checkpoint in {dir}, {at}); finishing its commits");
                } else {
                    eprintln!("[rask] resuming from checkpoint chk-{} in {dir} (taken {at})", m.checkpoint);
                }
                Some(format!("{}/chk-{}", dir.trim_end_matches('/'), m.checkpoint))
            }
            _ => {
                let f = if attempt == 1 { exec.from_savepoint.clone() } else { first_choice.clone() };
                if let Some(f) = &f {
                    eprintln!("[rask] starting from savepoint {f}");
                }
                f
            }
        };
        if attempt == 1 {
            first_choice = chosen.clone();
        }
        Ok(chosen)
    };
    crate::cluster::supervise(crate::cluster::Supervised {
        script: path,
        exec,
        processes: exec.processes.unwrap_or(1),
        parallelism: parallelism_of(&plan, exec),
        restart,
        restore_from: Box::new(restore_from),
    })
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
    read_statements("Rask SQL shell. Statements end with ';'. Ctrl-C stops a running job; Ctrl-D exits.", |sql| {
        match execute_script(&mut session, &sql, "<input>", true) {
            Ok(Some(plan)) => {
                if let Err(e) = run_plan(plan, exec, true) {
                    eprintln!("{e:#}");
                }
            }
            Ok(None) => {}
            Err(e) => eprintln!("{e:#}"),
        }
    })
}

/// The shells' input: lines from stdin (with prompts and `banner` on a terminal) gathered into
/// statements ending with ';', each handed to `run`.
pub fn read_statements(banner: &str, mut run: impl FnMut(String)) -> Result<()> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut buf = String::new();
    if interactive {
        eprintln!("{banner}");
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
        if line.trim_end().ends_with(';') {
            run(std::mem::take(&mut buf));
        }
    }
    Ok(())
}

pub fn list_connectors() {
    let reg = builtin_registry();
    for c in reg.all() {
        let r = c.roles();
        let roles: Vec<&str> = [(r.source, "source"), (r.sink, "sink"), (r.lookup, "lookup")].into_iter().filter(|(b, _)| *b).map(|(_, n)| n).collect();
        println!("{} ({}) — {}", c.name(), roles.join(", "), c.description());
        for s in rask_connectors::listed_options(c.as_ref()) {
            let req = if s.required { " (required)" } else { "" };
            let def = s.default.map(|d| format!(" [default: {d}]")).unwrap_or_default();
            println!("    {}{req}{def}: {}", s.key, s.doc);
        }
    }
}
