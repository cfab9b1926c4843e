//! `rask job …`: deployments on a `rask server` through its REST API (`--server`, default
//! `$RASK_SERVER` or http://127.0.0.1:8081): list, submit a SQL file, stop with a savepoint,
//! take a savepoint, cancel, update (upgrade / rescale) and resume, show the worker log, the
//! exceptions and the state history; and
//! `rask sql --server`, a SQL shell on the server's catalog.

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum JobCommand {
    /// List the deployments and their state.
    List,
    /// Create a deployment from a file of SET / INSERT statements and start it (its tables
    /// come from the server's catalog).
    Submit {
        /// The deployment's name.
        #[arg(long)]
        name: String,
        #[arg(short, long, default_value_t = 1)]
        parallelism: i64,
        /// Job configuration `key=value` (Flink option keys), repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        file: std::path::PathBuf,
    },
    /// Stop with a savepoint (the deployment is SUSPENDED; `resume` continues from it).
    Stop { name: String },
    /// Take a savepoint while the job keeps running (`resume` after a stop starts from the
    /// latest one).
    Savepoint { name: String },
    /// Cancel without a savepoint.
    Cancel { name: String },
    /// Change a stopped deployment: new SQL from a file (upgrade) and/or parallelism (rescale).
    Update {
        name: String,
        #[arg(short, long)]
        parallelism: Option<i64>,
        /// A file of SET / INSERT statements replacing the job's SQL.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Failures inside the job (restarted from or failed with).
    Exceptions { name: String },
    /// Start again, from the last savepoint if there is one.
    Resume { name: String },
    /// The last lines of the job's worker log.
    Logs {
        name: String,
        #[arg(long, default_value_t = 100)]
        lines: usize,
    },
    /// The deployment's state history.
    Events { name: String },
}

fn server_url(server: Option<String>) -> String {
    server.or_else(|| std::env::var("RASK_SERVER").ok()).unwrap_or_else(|| "http://127.0.0.1:8081".into()).trim_end_matches('/').to_string()
}

/// Call the API; an error response becomes its message (with the SQL position).
fn call(base: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    let url = format!("{base}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let resp = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        ("PATCH", Some(b)) => agent.patch(&url).send_json(b),
        (_, Some(b)) => agent.post(&url).send_json(b),
        (_, None) => agent.post(&url).send_empty(),
    }
    .with_context(|| format!("cannot reach the Rask server at {base}"))?;
    let status = resp.status();
    let text = resp.into_body().read_to_string().context("reading the server's answer")?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        return Ok(v);
    }
    let e = &v["error"];
    let at = match (e["line"].as_u64(), e["column"].as_u64()) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        _ => String::new(),
    };
    Err(anyhow!("{}{at}", e["message"].as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
}

fn show(d: &Value) {
    println!(
        "{:<24} {:<11} p={:<3} restarts={:<3} {}",
        d["name"].as_str().unwrap_or(""),
        d["state"].as_str().unwrap_or(""),
        d["parallelism"],
        d["restarts"],
        d["last_savepoint"].as_str().map(|s| format!("savepoint {s}")).or_else(|| d["failure"].as_str().map(|f| format!("failure: {f}"))).unwrap_or_default()
    );
}

/// `rask sql --server URL`: statements (ending with ';') read from stdin run against the
/// server's catalog; results print as the local shell prints them.
pub fn sql_shell(server: &str) -> Result<()> {
    let base = server_url(Some(server.to_string()));
    crate::script::read_statements(&format!("Rask SQL shell on {base}. Statements end with ';'. Ctrl-D exits."), |sql| {
        match call(&base, "POST", "/api/v1/statements", Some(json!({ "sql": sql }))) {
            Ok(results) => {
                for r in results.as_array().into_iter().flatten() {
                    match r["kind"].as_str() {
                        Some("rows") => {
                            println!("{}", r["header"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "));
                            for row in r["rows"].as_array().into_iter().flatten() {
                                println!("{}", row.as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "));
                            }
                        }
                        Some("explain") => println!("{}", r["plan"].as_str().unwrap_or("")),
                        _ => println!("{}", r["message"].as_str().unwrap_or("")),
                    }
                }
            }
            Err(e) => eprintln!("{e:#}"),
        }
    })
}

pub fn run(server: Option<String>, cmd: JobCommand) -> Result<()> {
    let base = server_url(server);
    match cmd {
        JobCommand::List => {
            let all = call(&base, "GET", "/api/v1/deployments", None)?;
            for d in all.as_array().into_iter().flatten() {
                show(d);
            }
        }
        JobCommand::Submit { name, parallelism, set, file } => {
            let sql = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut config = serde_json::Map::new();
            for kv in set {
                let Some((k, v)) = kv.split_once('=') else { bail!("--set expects KEY=VALUE, got '{kv}'") };
                config.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            show(&call(&base, "POST", "/api/v1/deployments", Some(json!({"name": name, "sql": sql, "parallelism": parallelism, "config": config})))?);
        }
        JobCommand::Stop { name } => show(&call(&base, "POST", &format!("/api/v1/deployments/{name}/stop"), Some(json!({"savepoint": true})))?),
        JobCommand::Savepoint { name } => show(&call(&base, "POST", &format!("/api/v1/deployments/{name}/savepoint"), None)?),
        JobCommand::Update { name, parallelism, file } => {
            let mut body = serde_json::Map::new();
            if let Some(p) = parallelism {
                body.insert("parallelism".into(), json!(p));
            }
            if let Some(f) = file {
                body.insert("sql".into(), Value::String(std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?));
            }
            if body.is_empty() {
                bail!("nothing to change: give --parallelism and/or --file");
            }
            show(&call(&base, "PATCH", &format!("/api/v1/deployments/{name}"), Some(Value::Object(body)))?);
        }
        JobCommand::Exceptions { name } => {
            let v = call(&base, "GET", &format!("/api/v1/deployments/{name}/exceptions"), None)?;
            for e in v.as_array().into_iter().flatten() {
                let what = if e["restarted"].as_bool() == Some(true) { "restarted" } else { "failed" };
                println!("{} {what:<9} {}", e["at"], e["message"].as_str().unwrap_or(""));
            }
        }
        JobCommand::Cancel { name } => show(&call(&base, "POST", &format!("/api/v1/deployments/{name}/stop"), Some(json!({"savepoint": false})))?),
        JobCommand::Resume { name } => show(&call(&base, "POST", &format!("/api/v1/deployments/{name}/start"), Some(json!({"from_savepoint": true})))?),
        JobCommand::Logs { name, lines } => {
            let v = call(&base, "GET", &format!("/api/v1/deployments/{name}/logs?lines={lines}"), None)?;
            println!("{}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        }
        JobCommand::Events { name } => {
            let v = call(&base, "GET", &format!("/api/v1/deployments/{name}/events"), None)?;
            for e in v.as_array().into_iter().flatten() {
                println!("{} {:<11} {}", e["at"], e["state"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}
