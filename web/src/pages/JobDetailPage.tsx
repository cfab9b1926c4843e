// A job's page: state and actions (stop, stop with savepoint, savepoint, resume, rescale), the
// operator graph with live figures, the last hour's metric curves, and the checkpoints,
// exceptions, state history, logs and SQL — refreshed every one to two seconds.
import { useCallback, useMemo, useState, type FormEvent } from "react";
import { ApiError, api, call, toApiError, type Deployment, type GraphNode, type Sample } from "../api/client";
import { ErrorBanner } from "../components/ErrorBanner";
import { LineChart, type ChartSeries } from "../components/LineChart";
import { OperatorGraph, busyTone } from "../components/OperatorGraph";
import { StateBadge } from "../components/StateBadge";
import { TableHead, type Column } from "../components/TableHead";
import { Tabs } from "../components/Tabs";
import { fmtBytes, fmtCount, fmtDuration, fmtPercent, fmtRate, fmtShortTime, fmtTime, isRunning } from "../format";
import { href } from "../router";
import { usePoll } from "../usePoll";

const REFRESH_MS = 1500;
const SLOW_REFRESH_MS = 2000;

const CHECKPOINT_COLUMNS: Column[] = [
  { label: "#" },
  { label: "Kind" },
  { label: "Completed" },
  { label: "Duration", num: true },
  { label: "Size", num: true },
  { label: "Path" },
];
const EVENT_COLUMNS: Column[] = [{ label: "At" }, { label: "State" }, { label: "Message" }];
const OPERATOR_COLUMNS: Column[] = [
  { label: "#" },
  { label: "Operator" },
  { label: "Par.", num: true },
  { label: "In/s", num: true },
  { label: "Out/s", num: true },
  { label: "In", num: true },
  { label: "Out", num: true },
  { label: "Bytes in/s", num: true },
  { label: "Bytes out/s", num: true },
  { label: "Pending", num: true },
  { label: "Busy", num: true },
  { label: "Watermark" },
  { label: "State", num: true },
  { label: "Late dropped", num: true },
  { label: "Skipped", num: true },
  { label: "Alignment max", num: true },
];

type Action = "cancel" | "stop-savepoint" | "savepoint" | "resume" | "rescale";

function series(samples: Sample[], pick: (s: Sample) => number | null | undefined): [number, number | null][] {
  return samples.map((s) => [s.at, pick(s) ?? null]);
}

export function JobDetailPage({ name }: { name: string }) {
  const path = { params: { path: { id: name } } };
  const dep = usePoll(() => call(api.GET("/api/v1/deployments/{id}", path)), REFRESH_MS, [name]);
  const metrics = usePoll(() => call(api.GET("/api/v1/deployments/{id}/metrics", path)), REFRESH_MS, [name]);
  const checkpoints = usePoll(() => call(api.GET("/api/v1/deployments/{id}/checkpoints", path)), SLOW_REFRESH_MS, [name]);
  const exceptions = usePoll(() => call(api.GET("/api/v1/deployments/{id}/exceptions", path)), SLOW_REFRESH_MS, [name]);
  const events = usePoll(() => call(api.GET("/api/v1/deployments/{id}/events", path)), SLOW_REFRESH_MS, [name]);
  const d = dep.data;
  const plan = usePoll(() => call(api.GET("/api/v1/deployments/{id}/plan", path)), null, [name, d?.parallelism, d?.sql]);
  const [tab, setTab] = useState("checkpoints");
  const logs = usePoll(
    () => call(api.GET("/api/v1/deployments/{id}/logs", { params: { path: { id: name }, query: { lines: 300 } }, parseAs: "text" })),
    tab === "logs" ? SLOW_REFRESH_MS : null,
    [name, tab === "logs"],
  );
  const [busy, setBusy] = useState<Action | null>(null);
  const [actionError, setActionError] = useState<{ context: string; error: ApiError } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [rescaleTo, setRescaleTo] = useState<number | null>(null);
  const now = Date.now();

  const refreshAll = useCallback(() => {
    dep.refresh();
    metrics.refresh();
    checkpoints.refresh();
    exceptions.refresh();
    events.refresh();
  }, [dep, metrics, checkpoints, exceptions, events]);

  const act = useCallback(
    async (action: Action, context: string, run: () => Promise<Deployment>, done: (d: Deployment) => string) => {
      setBusy(action);
      setActionError(null);
      setNotice(null);
      try {
        const after = await run();
        setNotice(done(after));
      } catch (e) {
        setActionError({ context, error: toApiError(e) });
      } finally {
        setBusy(null);
        refreshAll();
      }
    },
    [refreshAll],
  );

  const stop = (savepoint: boolean) => call(api.POST("/api/v1/deployments/{id}/stop", { ...path, body: { savepoint } }));
  const start = () => call(api.POST("/api/v1/deployments/{id}/start", { ...path, body: { from_savepoint: true } }));

  const onRescale = (ev: FormEvent) => {
    ev.preventDefault();
    if (!d || rescaleTo == null) return;
    const target = rescaleTo;
    void act(
      "rescale",
      "Rescale",
      async () => {
        if (isRunning(d.state)) await stop(true);
        await call(api.PATCH("/api/v1/deployments/{id}", { ...path, body: { parallelism: target } }));
        return start();
      },
      (after) => `Rescaled to parallelism ${after.parallelism}; ${after.state}.`,
    );
  };

  const samples = metrics.data?.series ?? [];
  const charts = useMemo(() => {
    const s = metrics.data?.series ?? [];
    return {
      throughput: [
        { name: "read/s", points: series(s, (x) => x.read_per_s), color: "#2563eb" },
        { name: "written/s", points: series(s, (x) => x.written_per_s), color: "#16a34a" },
      ] as ChartSeries[],
      lag: [{ name: "lag", points: series(s, (x) => x.watermark_lag_ms), color: "#9333ea" }] as ChartSeries[],
      cpDuration: [{ name: "duration", points: series(s, (x) => x.checkpoint_duration_ms), color: "#d97706" }] as ChartSeries[],
      cpSize: [{ name: "size", points: series(s, (x) => x.checkpoint_size_bytes), color: "#0891b2" }] as ChartSeries[],
      state: [{ name: "state", points: series(s, (x) => x.state_bytes), color: "#475569" }] as ChartSeries[],
      busy: [{ name: "busy (max)", points: series(s, (x) => (x.busy_max == null ? null : x.busy_max * 100)), color: "#dc2626" }] as ChartSeries[],
    };
  }, [metrics.data]);

  const operators = metrics.data?.operators ?? [];
  const graphNodes: GraphNode[] | undefined = plan.data?.nodes ?? (operators.length ? operators.map((o) => ({ id: o.node, name: o.name, parallelism: o.parallelism, inputs: [] })) : undefined);

  if (!d) {
    return (
      <div className="page">
        <div className="page-head">
          <h1 tabIndex={-1}>{name}</h1>
        </div>
        <ErrorBanner error={dep.error} context="Loading the job" />
        {!dep.error && <p className="muted">Loading…</p>}
        <p>
          <a href={href({ page: "jobs" })}>← All jobs</a>
        </p>
      </div>
    );
  }

  const running = isRunning(d.state);
  const live = d.live ?? undefined;
  return (
    <div className="page job-page" data-job={d.name}>
      <div className="page-head">
        <div className="title-row">
          <a href={href({ page: "jobs" })} className="small">
            ← Jobs
          </a>
          <h1 tabIndex={-1} id="job-name">
            {d.name}
          </h1>
          <StateBadge state={d.state} id="job-state" />
          {busy && (
            <span className="muted small" aria-live="polite">
              {busy === "stop-savepoint" ? "Taking a savepoint and stopping…" : busy === "savepoint" ? "Taking a savepoint…" : busy === "cancel" ? "Stopping…" : busy === "resume" ? "Starting…" : "Rescaling…"}
            </span>
          )}
        </div>
        <div className="actions" role="toolbar" aria-label="Job actions">
          <button type="button" id="btn-stop" onClick={() => void act("cancel", "Stop", () => stop(false), (a) => `Stopped: ${a.state}.`)} disabled={!running || busy != null}>
            Stop
          </button>
          <button type="button" id="btn-stop-savepoint" onClick={() => void act("stop-savepoint", "Stop with savepoint", () => stop(true), (a) => `Stopped with savepoint ${a.last_savepoint ?? ""}: ${a.state}.`)} disabled={!running || busy != null}>
            Stop with savepoint
          </button>
          <button type="button" id="btn-savepoint" onClick={() => void act("savepoint", "Savepoint", () => call(api.POST("/api/v1/deployments/{id}/savepoint", path)), (a) => `Savepoint taken: ${a.last_savepoint ?? "(no path)"}.`)} disabled={!running || busy != null}>
            Savepoint
          </button>
          <button type="button" id="btn-resume" className="primary" onClick={() => void act("resume", "Resume", start, (a) => `Started: ${a.state}${a.last_savepoint ? ` from ${a.last_savepoint}` : ""}.`)} disabled={running || busy != null}>
            {d.last_savepoint ? "Resume" : "Start"}
          </button>
          <form className="rescale" onSubmit={onRescale}>
            <label>
              Parallelism
              <input id="rescale-parallelism" type="number" min={1} max={256} className="num" value={rescaleTo ?? d.parallelism} onChange={(e) => setRescaleTo(Math.max(1, Number(e.target.value) || 1))} />
            </label>
            <button type="submit" id="btn-rescale" disabled={busy != null || rescaleTo == null || rescaleTo === d.parallelism} title={running ? "Stops with a savepoint, changes the parallelism and resumes" : "Changes the parallelism and starts from the last savepoint"}>
              Rescale
            </button>
          </form>
        </div>
      </div>

      {actionError && <ErrorBanner id="action-error" error={actionError.error} context={actionError.context} onDismiss={() => setActionError(null)} />}
      {notice && (
        <div className="notice" role="status" id="action-notice">
          {notice}
          <button type="button" className="ghost small" onClick={() => setNotice(null)} aria-label="Dismiss">
            ✕
          </button>
        </div>
      )}
      <ErrorBanner error={dep.error} context="Refreshing the job" />
      {d.failure && (
        <div className="error-banner" role="status">
          <div className="error-text">
            <strong>Last failure:</strong> {d.failure}
          </div>
        </div>
      )}

      <dl className="facts">
        <div>
          <dt>Uptime</dt>
          <dd id="job-uptime">{live ? fmtDuration(now - live.started_at) : "–"}</dd>
        </div>
        <div>
          <dt>Read</dt>
          <dd>{live ? fmtRate(live.read_per_s) : "–"}</dd>
        </div>
        <div>
          <dt>Written</dt>
          <dd>{live ? fmtRate(live.written_per_s) : "–"}</dd>
        </div>
        <div>
          <dt>Watermark lag</dt>
          <dd>{live?.watermark_lag_ms != null ? fmtDuration(live.watermark_lag_ms) : "–"}</dd>
        </div>
        <div>
          <dt>Last checkpoint</dt>
          <dd title={live?.last_checkpoint ? `#${live.last_checkpoint.id}, completed ${fmtTime(live.last_checkpoint.completed_at)} in ${fmtDuration(live.last_checkpoint.duration_ms)}; ${live.last_checkpoint.completed} this run` : undefined}>
            {live?.last_checkpoint ? fmtBytes(live.last_checkpoint.full_bytes) : "–"}
          </dd>
        </div>
        <div>
          <dt>Parallelism</dt>
          <dd>{d.parallelism}</dd>
        </div>
        <div>
          <dt>Restarts</dt>
          <dd>{d.restarts}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd title={fmtTime(d.created_at)}>{fmtShortTime(d.created_at, now)}</dd>
        </div>
        <div className="wide">
          <dt>Last savepoint</dt>
          <dd className="mono small" id="job-last-savepoint">
            {d.last_savepoint ?? "–"}
          </dd>
        </div>
      </dl>

      <section className="card" aria-labelledby="graph-h">
        <div className="card-head">
          <h2 id="graph-h">Operators</h2>
          <span className="legend small">
            busy: <span className="dot ok" /> &lt;50% <span className="dot warn" /> 50–80% <span className="dot bad" /> ≥80% (backpressure)
          </span>
        </div>
        <ErrorBanner error={plan.error} context="Loading the job graph" />
        <ErrorBanner error={metrics.error} context="Loading the metrics" />
        {graphNodes ? <OperatorGraph nodes={graphNodes} metrics={operators} now={now} /> : <p className="muted">{plan.error ? "No graph." : "Loading…"}</p>}
        {!running && <p className="muted small">Live operator figures appear while the job runs.</p>}
      </section>

      <section className="card" aria-labelledby="charts-h">
        <div className="card-head">
          <h2 id="charts-h">Last hour</h2>
          <span className="muted small">{samples.length} sample{samples.length === 1 ? "" : "s"}</span>
        </div>
        <div className="charts">
          <LineChart id="chart-throughput" title="Throughput (records/s)" series={charts.throughput} format={(v) => fmtCount(v)} />
          <LineChart id="chart-watermark-lag" title="Watermark lag" series={charts.lag} format={(v) => fmtDuration(v)} />
          <LineChart id="chart-busy" title="Busy, max over operators (%)" series={charts.busy} format={(v) => `${Math.round(v)}%`} />
          <LineChart id="chart-checkpoint-duration" title="Checkpoint duration" series={charts.cpDuration} format={(v) => fmtDuration(v)} />
          <LineChart id="chart-checkpoint-size" title="Checkpoint size" series={charts.cpSize} format={(v) => fmtBytes(v)} />
          <LineChart id="chart-state-size" title="State size" series={charts.state} format={(v) => fmtBytes(v)} />
        </div>
      </section>

      <section className="card">
        <Tabs
          label="Job details"
          active={tab}
          onChange={setTab}
          tabs={[
            {
              key: "checkpoints",
              label: `Checkpoints${checkpoints.data ? ` (${checkpoints.data.length})` : ""}`,
              render: () => (
                <>
                  <ErrorBanner error={checkpoints.error} context="Loading the checkpoints" />
                  {checkpoints.data && checkpoints.data.length === 0 && <p className="muted">No checkpoints yet.</p>}
                  {checkpoints.data && checkpoints.data.length > 0 && (
                    <div className="table-scroll short">
                      <table className="data" id="checkpoints-table">
                        <TableHead columns={CHECKPOINT_COLUMNS} />
                        <tbody>
                          {checkpoints.data.map((c) => (
                            <tr key={`${c.kind}-${c.id}-${c.at}`}>
                              <td>{c.id}</td>
                              <td>{c.kind === "savepoint" ? <strong>savepoint</strong> : c.kind}</td>
                              <td>{fmtTime(c.at)}</td>
                              <td className="num">{fmtDuration(c.duration_ms)}</td>
                              <td className="num">{fmtBytes(c.size_bytes)}</td>
                              <td className="mono small">{c.path}</td>
                            </tr>
                          ))}
                        </tbody>
                      </table>
                    </div>
                  )}
                </>
              ),
            },
            {
              key: "exceptions",
              label: `Exceptions${exceptions.data?.length ? ` (${exceptions.data.length})` : ""}`,
              render: () => (
                <>
                  <ErrorBanner error={exceptions.error} context="Loading the exceptions" />
                  {exceptions.data && exceptions.data.length === 0 && <p className="muted">No exceptions.</p>}
                  <ol className="exceptions" id="exceptions-list">
                    {(exceptions.data ?? []).map((x, i) => (
                      <li key={i}>
                        <div className="muted small">
                          {fmtTime(x.at)}
                          {x.restarted ? " · the job restarted" : ""}
                        </div>
                        <pre>{x.message}</pre>
                      </li>
                    ))}
                  </ol>
                </>
              ),
            },
            {
              key: "events",
              label: "History",
              render: () => (
                <>
                  <ErrorBanner error={events.error} context="Loading the state history" />
                  <div className="table-scroll short">
                    <table className="data" id="events-table">
                      <TableHead columns={EVENT_COLUMNS} />
                      <tbody>
                        {[...(events.data ?? [])].reverse().map((e, i) => (
                          <tr key={i}>
                            <td className="nowrap">{fmtTime(e.at)}</td>
                            <td>
                              <StateBadge state={e.state} />
                            </td>
                            <td>{e.message}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                </>
              ),
            },
            {
              key: "operators",
              label: "Operator metrics",
              render: () => (
                <div className="table-scroll short">
                  <table className="data" id="operators-table">
                    <TableHead columns={OPERATOR_COLUMNS} />
                    <tbody>
                      {operators.map((o) => (
                        <tr key={o.node}>
                          <td>{o.node}</td>
                          <td>
                            {o.name}
                            {o.source ? <span className="muted small"> source</span> : o.sink ? <span className="muted small"> sink</span> : null}
                          </td>
                          <td className="num">{o.parallelism}</td>
                          <td className="num">{fmtRate(o.records_in_per_s)}</td>
                          <td className="num">{fmtRate(o.records_out_per_s)}</td>
                          <td className="num">{fmtCount(o.records_in)}</td>
                          <td className="num">{fmtCount(o.records_out)}</td>
                          <td className="num">{fmtBytes(o.bytes_in_per_s)}</td>
                          <td className="num">{fmtBytes(o.bytes_out_per_s)}</td>
                          <td className="num" title="Records in the external system not read yet (Kafka consumer lag)">{o.pending_records != null ? fmtCount(o.pending_records) : "–"}</td>
                          <td className={`num tone-${busyTone(o.busy_ratio)}`}>{fmtPercent(o.busy_ratio)}</td>
                          <td className="nowrap">{o.watermark_ms != null ? fmtTime(o.watermark_ms) : o.input_watermark_ms != null ? `in ${fmtTime(o.input_watermark_ms)}` : "–"}</td>
                          <td className="num">{fmtBytes(o.state_bytes)}</td>
                          <td className="num">{fmtCount(o.late_records_dropped)}</td>
                          <td className="num">{fmtCount(o.skipped_records)}</td>
                          <td className="num">{fmtDuration(o.checkpoint_alignment_max_us / 1000)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  {operators.length === 0 && <p className="muted">No live operators (the job is not running).</p>}
                </div>
              ),
            },
            {
              key: "logs",
              label: "Logs",
              render: () => (
                <>
                  <ErrorBanner error={logs.error} context="Loading the logs" />
                  <pre className="logs" id="job-logs" tabIndex={0} aria-label="Worker log, last 300 lines">
                    {logs.data ?? "Loading…"}
                  </pre>
                </>
              ),
            },
            {
              key: "sql",
              label: "SQL & plan",
              render: () => (
                <div className="sql-tab">
                  <h3>Statements</h3>
                  <pre className="plan">{d.sql}</pre>
                  {Object.keys(d.config).length > 0 && (
                    <>
                      <h3>Configuration</h3>
                      <table className="data">
                        <tbody>
                          {Object.entries(d.config).map(([k, v]) => (
                            <tr key={k}>
                              <th scope="row" className="mono">
                                {k}
                              </th>
                              <td className="mono">{v}</td>
                            </tr>
                          ))}
                        </tbody>
                      </table>
                    </>
                  )}
                  <h3>Plan</h3>
                  <ErrorBanner error={plan.error} context="Loading the plan" />
                  <pre className="plan">{plan.data?.explain ?? "–"}</pre>
                </div>
              ),
            },
          ]}
        />
      </section>
    </div>
  );
}
