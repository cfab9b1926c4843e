//! `rask`: run Flink SQL scripts as streaming jobs (`rask run`), explain their plans
//! (`rask explain`), work interactively (`rask sql`) and list connectors.

mod jobs_cli;
mod metrics_file;
mod bench;
mod bench_kafka;
mod cluster;
mod progress;
mod script;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Batches are allocated and freed at a high rate; glibc's allocator maps and unmaps large
/// buffers each time (page faults in every batch), mimalloc keeps reusing them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "rask", version, about = "Rask: Flink SQL streaming jobs on your own machines")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Debug)]
pub struct ExecArgs {
    /// Total parallelism when running in one process (worker threads). Overrides
    /// `SET 'parallelism.default'`.
    #[arg(short, long)]
    pub parallelism: Option<usize>,
    /// Run as a cluster of this many local processes connected over TCP on 127.0.0.1
    /// (`rask run` starts and supervises them).
    #[arg(long)]
    pub processes: Option<usize>,
    /// Worker threads per process in a multi-process run.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Join a multi-process run as process number N (0-based); requires --hosts.
    #[arg(long, requires = "hosts")]
    pub process_index: Option<usize>,
    /// Comma-separated host:port of every process of a multi-process run, in process order.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Rows per batch read by sources.
    #[arg(long, default_value_t = 8192)]
    pub batch_size: usize,
    /// Progress display: auto (live line on a terminal, periodic log lines otherwise), plain, none.
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Write this process's CPU time and peak memory as JSON to FILE when the job ends (used by
    /// `rask bench`).
    #[arg(long, hide = true)]
    pub usage_out: Option<PathBuf>,
    /// Write the operators' metrics as JSON to FILE every second (FILE.N per process of a
    /// supervised run; read by `rask server`).
    #[arg(long)]
    pub metrics_file: Option<PathBuf>,
    /// Start from this savepoint or retained checkpoint (a `chk-N` directory or its
    /// `_metadata`), as Flink's `-s`; the parallelism may differ from the one it was taken at.
    #[arg(short = 's', long)]
    pub from_savepoint: Option<String>,
    /// Stop-with-savepoint: on Ctrl-C (SIGINT), take a savepoint in this directory and stop
    /// (default: `execution.checkpointing.savepoint-dir`); resume it with `--from-savepoint`.
    #[arg(long)]
    pub savepoint_dir: Option<String>,
    /// Drop the state of operators the job no longer has instead of refusing to start.
    #[arg(long)]
    pub allow_non_restored_state: bool,
    /// Run the job in this process as the worker of a supervising `rask run` (set by it).
    #[arg(long, hide = true)]
    pub worker: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a SQL script: DDL, SET, then its INSERT/SELECT statements as one streaming job,
    /// until its bounded sources end (or Ctrl-C for unbounded ones).
    Run {
        script: PathBuf,
        #[command(flatten)]
        exec: ExecArgs,
    },
    /// Print the streaming plan of a script's INSERT/SELECT statements.
    Explain {
        script: PathBuf,
        #[arg(short, long)]
        parallelism: Option<usize>,
    },
    /// Interactive SQL shell: statements end with ';'.
    Sql {
        #[command(flatten)]
        exec: ExecArgs,
        /// Work on a Rask server's catalog instead of a local session (DDL is stored there;
        /// jobs are deployed with `rask job submit`).
        #[arg(long)]
        server: Option<String>,
    },
    /// List the connectors and their options.
    Connectors,
    /// Deployments on a Rask server: list, submit, stop (with savepoint), cancel, resume, logs.
    Job {
        /// The server's URL (default: $RASK_SERVER or http://127.0.0.1:8081).
        #[arg(long)]
        server: Option<String>,
        #[command(subcommand)]
        command: jobs_cli::JobCommand,
    },
    /// Run the Rask server: REST API, persistent catalog, deployments run as worker processes.
    Server {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
        /// Where the metadata (SQLite by default), job logs, checkpoints and savepoints live.
        #[arg(long, default_value = ".rask")]
        data_dir: PathBuf,
        /// Metadata store URL instead of SQLite in the data directory, e.g. postgres://user@host/db.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Print the server's REST API as an OpenAPI document (JSON).
    Openapi,
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Run Nexmark queries (q0–q22) on the built-in generator into blackhole sinks and print
    /// events/s, events per CPU-core-second, peak RSS and output latency per query.
    Nexmark(bench::NexmarkArgs),
    /// Kafka → filter → Kafka throughput of a Rask job against a bare rdkafka consume →
    /// produce loop on the same broker (`bench/kafka.sh` starts a broker and runs it).
    Kafka(bench_kafka::KafkaArgs),
}

/// `rask server`: serve until interrupted; workers are this binary's `rask run`.
fn server(listen: std::net::SocketAddr, data_dir: PathBuf, database_url: Option<String>) -> anyhow::Result<()> {
    let worker_bin = std::env::current_exe()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let cfg = rask_server::ServerConfig { listen, data_dir, database_url, worker_bin };
    rt.block_on(rask_server::serve(cfg, None)).map_err(|e| anyhow::anyhow!("{e}"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RASK_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    // When another process of a cluster dies, timely's network threads panic in the survivors;
    // say what happened in one line instead of a backtrace (the supervisor restarts or fails).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let comms = msg.starts_with("Send thread panic") || msg.starts_with("Recv thread panic") || msg.contains("MergeQueue poisoned");
        if thread.name().is_some_and(|n| n.starts_with("timely:")) || comms {
            if !comms {
                let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                eprintln!("[rask] lost the connection to another process of the job ({msg}{at}); stopping");
            }
        } else {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Run { script, exec } => {
            script::savepoint_signal();
            let r = script::run_file(&script, &exec);
            // A worker of a supervised run tells the supervisor why it failed.
            if let (Err(e), Some(m), true) = (&r, &exec.metrics_file, exec.worker || exec.process_index.is_some()) {
                let _ = std::fs::write(format!("{}.error", m.display()), format!("{e:#}"));
            }
            if let Some(path) = &exec.usage_out {
                bench::write_usage(path, script::LAST_LATENCY.lock().ok().and_then(|l| *l));
            }
            r
        }
        Command::Bench(BenchCommand::Nexmark(args)) => bench::nexmark(&args),
        Command::Bench(BenchCommand::Kafka(args)) => bench_kafka::kafka(&args),
        Command::Explain { script, parallelism } => script::explain_file(&script, parallelism),
        Command::Sql { exec, server: None } => script::shell(&exec),
        Command::Sql { server: Some(url), .. } => jobs_cli::sql_shell(&url),
        Command::Connectors => {
            script::list_connectors();
            Ok(())
        }
        Command::Server { listen, data_dir, database_url } => server(listen, data_dir, database_url),
        Command::Job { server, command } => jobs_cli::run(server, command),
        Command::Openapi => {
            println!("{}", rask_server::api::openapi_json());
            Ok(())
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
