// The jobs list: every deployment with its state, uptime, throughput, watermark lag and last
// checkpoint, refreshed every two seconds.
import { api, call } from "../api/client";
import { ErrorBanner } from "../components/ErrorBanner";
import { StateBadge } from "../components/StateBadge";
import { TableHead, type Column } from "../components/TableHead";
import { fmtAgo, fmtBytes, fmtCount, fmtDuration, fmtRate, isRunning } from "../format";
import { href } from "../router";
import { usePoll } from "../usePoll";

const COLUMNS: Column[] = [
  { label: "Name" },
  { label: "State" },
  { label: "Uptime" },
  { label: "Read", num: true },
  { label: "Written", num: true },
  { label: "Watermark lag", num: true },
  { label: "Source lag", num: true },
  { label: "Last checkpoint" },
  { label: "Parallelism", num: true },
  { label: "Restarts", num: true },
];

export function JobsPage() {
  const jobs = usePoll(() => call(api.GET("/api/v1/deployments")), 2000, []);
  const now = Date.now();
  const list = [...(jobs.data ?? [])].sort((a, b) => Number(isRunning(b.state)) - Number(isRunning(a.state)) || b.updated_at - a.updated_at);
  return (
    <div className="page">
      <div className="page-head">
        <h1 tabIndex={-1}>Jobs</h1>
        <a className="button" href={href({ page: "editor" })}>
          New job in the editor
        </a>
      </div>
      <ErrorBanner error={jobs.error} context="Loading the jobs" />
      {jobs.data && list.length === 0 && <p className="muted">No jobs yet: write an INSERT INTO in the editor and deploy it.</p>}
      {list.length > 0 && (
        <div className="table-scroll">
          <table className="data jobs" id="jobs-table">
            <TableHead columns={COLUMNS} />
            <tbody>
              {list.map((d) => {
                const live = d.live ?? undefined;
                const cp = live?.last_checkpoint ?? undefined;
                return (
                  <tr key={d.id} data-job={d.name}>
                    <td>
                      <a href={href({ page: "job", name: d.name })}>{d.name}</a>
                    </td>
                    <td>
                      <StateBadge state={d.state} />
                    </td>
                    <td>{live ? fmtDuration(now - live.started_at) : "–"}</td>
                    <td className="num">{live ? fmtRate(live.read_per_s) : "–"}</td>
                    <td className="num">{live ? fmtRate(live.written_per_s) : "–"}</td>
                    <td className="num">{live?.watermark_lag_ms != null ? fmtDuration(live.watermark_lag_ms) : "–"}</td>
                    <td className="num" title="Records the sources have not read yet (Kafka consumer lag)">{live?.pending_records != null ? fmtCount(live.pending_records) : "–"}</td>
                    <td title={cp ? `#${cp.id}; ${cp.completed} completed this run; the last took ${fmtDuration(cp.duration_ms)} and wrote ${fmtBytes(cp.bytes)}` : undefined}>
                      {cp ? `${fmtAgo(cp.completed_at, now)} · ${fmtBytes(cp.full_bytes)}` : "–"}
                    </td>
                    <td className="num">{d.parallelism}</td>
                    <td className="num">{d.restarts}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
