//! Python user-defined scalar functions (Flink's `CREATE FUNCTION f AS 'module.func' LANGUAGE
//! PYTHON`, written with PyFlink's `@udf(result_type=…)` or a `ScalarFunction` subclass).
//!
//! A function runs in Python worker processes (`runner.py`, started with the job's
//! `python.executable` and `python.files` on `PYTHONPATH`), as Flink runs Python UDFs outside
//! the JVM. Each evaluation sends the argument columns as one Arrow IPC batch and reads the
//! result column back; a pool keeps one worker per concurrent caller (one per subtask at
//! most). A worker exits when its stdin closes, so a killed job leaves none behind.
//!
//! Framing on the worker's stdin/stdout: one byte of kind, a little-endian `u32` length, the
//! payload. Worker → Rask: `D` (description JSON) once after loading, then `R` (result batch)
//! or `E` (error text) per batch. Rask → worker: `S` (the result field as an Arrow schema)
//! once, then `B` (argument batch) per evaluation.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, new_empty_array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use datafusion_common::{DataFusionError, Result as DfResult, exec_err, plan_err};
use datafusion_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

/// The worker program, passed with `python -c`.
const RUNNER: &str = include_str!("runner.py");

/// Where and how a job's Python functions run: Flink's `python.executable`, the entries of
/// `python.files` (a `.py` file contributes its directory, a directory or archive itself), and
/// `pipeline.global-job-parameters` (what `FunctionContext.get_job_parameter` answers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PythonEnv {
    pub executable: String,
    pub path: Vec<PathBuf>,
    pub job_parameters: BTreeMap<String, String>,
}

impl PythonEnv {
    /// The environment from a job's configuration: `python.executable` (else `$RASK_PYTHON`,
    /// else `python3`), `python.files` (comma-separated; relative paths are taken from the
    /// current directory), `pipeline.global-job-parameters` (`k1:v1,k2:v2`).
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<PythonEnv, String> {
        let executable = get("python.executable")
            .or_else(|| std::env::var("RASK_PYTHON").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "python3".into());
        let mut path = Vec::new();
        for f in get("python.files").unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let p = std::path::absolute(f).map_err(|e| format!("python.files: '{f}': {e}"))?;
            if !p.exists() {
                return Err(format!("python.files: '{f}' does not exist"));
            }
            let entry = if p.is_file() && p.extension().is_some_and(|e| e == "py") {
                p.parent().map(|d| d.to_path_buf()).unwrap_or(p)
            } else {
                p
            };
            if !path.contains(&entry) {
                path.push(entry);
            }
        }
        let mut job_parameters = BTreeMap::new();
        for kv in get("pipeline.global-job-parameters").unwrap_or_default().split(',').filter(|s| !s.trim().is_empty()) {
            let (k, v) = kv.split_once(':').ok_or_else(|| format!("pipeline.global-job-parameters: '{kv}' is not key:value"))?;
            job_parameters.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(PythonEnv { executable, path, job_parameters })
    }
}

/// What the worker reports about the function it loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Description {
    /// The result type as Flink SQL text (`BIGINT`, `DECIMAL(10, 2)`, `ARRAY<STRING>`).
    pub result_type: String,
    /// Declared `input_types` (Flink SQL text), if any: arguments are cast to them.
    pub input_types: Option<Vec<String>>,
    pub min_args: usize,
    /// `None`: any number (`*args`).
    pub max_args: Option<usize>,
    pub deterministic: bool,
    /// `general` (called per row) or `pandas` (called per batch with `pandas.Series`).
    pub kind: String,
}

/// A running worker.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    /// Start a worker for `identifier` and read its description.
    fn start(env: &PythonEnv, identifier: &str) -> Result<(Worker, Description), String> {
        let mut cmd = Command::new(&env.executable);
        cmd.arg("-c").arg(RUNNER).arg(identifier);
        let mut pythonpath: Vec<PathBuf> = env.path.clone();
        if let Some(p) = std::env::var_os("PYTHONPATH") {
            pythonpath.extend(std::env::split_paths(&p));
        }
        if !pythonpath.is_empty() {
            cmd.env("PYTHONPATH", std::env::join_paths(pythonpath).map_err(|e| e.to_string())?);
        }
        let params: serde_json::Map<String, serde_json::Value> =
            env.job_parameters.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        cmd.env("RASK_UDF_JOB_PARAMETERS", serde_json::Value::Object(params).to_string());
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("Python executable '{}' not found (set 'python.executable' or RASK_PYTHON)", env.executable)
            }
            _ => format!("cannot start Python ('{}'): {e}", env.executable),
        })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut w = Worker { child, stdin, stdout };
        let (kind, body) = w.recv().map_err(|e| w.died(&e))?;
        let text = String::from_utf8_lossy(&body).into_owned();
        match kind {
            b'D' => Ok((w, parse_description(&text)?)),
            b'E' => Err(text),
            k => Err(format!("unexpected reply '{}' from the Python worker", k as char)),
        }
    }

    fn send(&mut self, kind: u8, payload: &[u8]) -> std::io::Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| std::io::Error::other("worker closed"))?;
        stdin.write_all(&[kind])?;
        stdin.write_all(&(payload.len() as u32).to_le_bytes())?;
        stdin.write_all(payload)?;
        stdin.flush()
    }

    fn recv(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        let mut head = [0u8; 5];
        self.stdout.read_exact(&mut head)?;
        let n = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; n];
        self.stdout.read_exact(&mut body)?;
        Ok((head[0], body))
    }

    /// Why talking to the worker failed (it usually exited: its output is in the log).
    fn died(&mut self, e: &std::io::Error) -> String {
        let status = wait_a_little(&mut self.child, Duration::from_millis(500));
        match status {
            Some(s) => format!("the Python worker exited ({s}); its output is in the job log above"),
            None => format!("lost the connection to the Python worker: {e}"),
        }
    }
}

fn wait_a_little(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin lets the worker call the function's close() and exit.
        drop(self.stdin.take());
        if wait_a_little(&mut self.child, Duration::from_secs(2)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn parse_description(text: &str) -> Result<Description, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("bad description from the Python worker: {e}"))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Ok(Description {
        result_type: s("result_type").ok_or("the Python worker sent no result type")?,
        input_types: v.get("input_types").and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()),
        min_args: v.get("min_args").and_then(|x| x.as_u64()).unwrap_or(0) as usize,
        max_args: v.get("max_args").and_then(|x| x.as_u64()).map(|x| x as usize),
        deterministic: v.get("deterministic").and_then(|x| x.as_bool()).unwrap_or(true),
        kind: s("kind").unwrap_or_else(|| "general".into()),
    })
}

/// Load `identifier` (`module.function`) in a worker and report what it is. The worker stays
/// in `pool` for the first evaluation. `Err` is the user's problem, in Python's words
/// (module not found, not a UDF, no pyarrow, …).
fn describe_into(env: &PythonEnv, identifier: &str, pool: &Mutex<Vec<Worker>>) -> Result<Description, String> {
    let (w, d) = Worker::start(env, identifier)?;
    pool.lock().unwrap_or_else(|p| p.into_inner()).push(w);
    Ok(d)
}

/// A Python scalar function as a DataFusion UDF.
#[derive(Debug)]
pub struct PythonScalarFunction {
    name: String,
    identifier: String,
    env: PythonEnv,
    description: Description,
    result: FieldRef,
    inputs: Option<Vec<DataType>>,
    signature: Signature,
    /// Idle workers (`Worker` has no `Debug`: shown as a count).
    pool: Pool,
}

struct Pool(Mutex<Vec<Worker>>);

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} idle Python workers", self.0.lock().map(|p| p.len()).unwrap_or(0))
    }
}

impl PartialEq for PythonScalarFunction {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.identifier == o.identifier && self.env == o.env && self.description == o.description
    }
}
impl Eq for PythonScalarFunction {}
impl Hash for PythonScalarFunction {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (&self.name, &self.identifier, &self.env).hash(h);
    }
}

impl PythonScalarFunction {
    /// Load `identifier` with `env` and build the function called `name` in SQL. `types`
    /// turns Flink SQL type text into Arrow (the planner's type parser) with nullability.
    pub fn load(
        name: &str,
        identifier: &str,
        env: PythonEnv,
        types: impl Fn(&str) -> Result<(DataType, bool), String>,
    ) -> Result<PythonScalarFunction, String> {
        let pool = Pool(Mutex::new(Vec::new()));
        let description = describe_into(&env, identifier, &pool.0)?;
        let (rt, nullable) = types(&description.result_type).map_err(|e| format!("result type '{}': {e}", description.result_type))?;
        let inputs = match &description.input_types {
            Some(ts) => Some(
                ts.iter()
                    .map(|t| types(t).map(|(dt, _)| dt).map_err(|e| format!("input type '{t}': {e}")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let vol = if description.deterministic { Volatility::Immutable } else { Volatility::Volatile };
        // Send the result field to the worker already started by the description.
        let result: FieldRef = Arc::new(Field::new("result", rt, nullable));
        let f = PythonScalarFunction {
            name: name.to_ascii_lowercase(),
            identifier: identifier.to_string(),
            env,
            description,
            result,
            inputs,
            signature: Signature::user_defined(vol),
            pool,
        };
        let mut idle = f.pool.0.lock().unwrap_or_else(|p| p.into_inner());
        for w in idle.iter_mut() {
            f.greet(w).map_err(|e| e.to_string())?;
        }
        drop(idle);
        Ok(f)
    }

    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Tell a fresh worker the result type.
    fn greet(&self, w: &mut Worker) -> DfResult<()> {
        let schema = Schema::new(vec![self.result.as_ref().clone()]);
        let mut buf = Vec::new();
        {
            let mut sw = StreamWriter::try_new(&mut buf, &schema)?;
            sw.finish()?;
        }
        w.send(b'S', &buf).map_err(|e| DataFusionError::Execution(self.context(&w.died(&e))))
    }

    fn context(&self, msg: &str) -> String {
        format!("Python function {} ('{}'): {msg}", self.name, self.identifier)
    }

    fn take_worker(&self) -> DfResult<Worker> {
        if let Some(w) = self.pool.0.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(w);
        }
        let (mut w, d) = Worker::start(&self.env, &self.identifier).map_err(|e| DataFusionError::Execution(self.context(&e)))?;
        if d != self.description {
            return exec_err!("{}", self.context("the function changed since the job was planned (its Python file was edited)"));
        }
        self.greet(&mut w)?;
        Ok(w)
    }

    fn evaluate(&self, args: &[ArrayRef], n: usize) -> DfResult<ArrayRef> {
        if n == 0 {
            return Ok(new_empty_array(self.result.data_type()));
        }
        let fields: Vec<Field> =
            args.iter().enumerate().map(|(i, a)| Field::new(format!("a{i}"), a.data_type().clone(), true)).collect();
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            args.to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        let mut buf = Vec::with_capacity(1024);
        {
            let mut sw = StreamWriter::try_new(&mut buf, &batch.schema())?;
            sw.write(&batch)?;
            sw.finish()?;
        }
        let mut w = self.take_worker()?;
        let reply = w.send(b'B', &buf).and_then(|_| w.recv());
        let (kind, body) = match reply {
            Ok(r) => r,
            Err(e) => return exec_err!("{}", self.context(&w.died(&e))),
        };
        self.pool.0.lock().unwrap_or_else(|p| p.into_inner()).push(w);
        match kind {
            b'R' => {
                let mut reader = StreamReader::try_new(std::io::Cursor::new(body), None)?;
                let out = match reader.next() {
                    Some(b) => b?,
                    None => return exec_err!("{}", self.context("the worker sent no result")),
                };
                let col = out.column(0).clone();
                if col.len() != n || col.data_type() != self.result.data_type() {
                    return exec_err!(
                        "{}",
                        self.context(&format!("the worker returned {} values of {} for {n} rows of {}", col.len(), col.data_type(), self.result.data_type()))
                    );
                }
                Ok(col)
            }
            b'E' => exec_err!("{}", self.context(&String::from_utf8_lossy(&body))),
            k => exec_err!("{}", self.context(&format!("unexpected reply '{}'", k as char))),
        }
    }
}

impl ScalarUDFImpl for PythonScalarFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let n = arg_types.len();
        let d = &self.description;
        if n < d.min_args || d.max_args.is_some_and(|m| n > m) {
            let want = match d.max_args {
                Some(m) if m == d.min_args => format!("{m}"),
                Some(m) => format!("{} to {m}", d.min_args),
                None => format!("at least {}", d.min_args),
            };
            return plan_err!("Python function {} ('{}') takes {want} arguments, called with {n}", self.name, self.identifier);
        }
        match &self.inputs {
            Some(ts) if ts.len() != n => {
                plan_err!("Python function {} declares {} input_types, called with {n} arguments", self.name, ts.len())
            }
            Some(ts) => Ok(ts.clone()),
            None => Ok(arg_types.to_vec()),
        }
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(self.result.data_type().clone())
    }
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(Field::new(&self.name, self.result.data_type().clone(), self.result.is_nullable())))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args.args.iter().map(|a| a.to_array(n)).collect::<DfResult<Vec<_>>>()?;
        let out = self.evaluate(&arrays, n)?;
        if all_scalar && n == 1 && !args.args.is_empty() {
            return Ok(ColumnarValue::Scalar(datafusion_common::ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}
