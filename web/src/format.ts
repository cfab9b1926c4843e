// Formatting of numbers, sizes, times and durations for the console's tables and charts.

export function fmtRate(perSecond: number | null | undefined): string {
  if (perSecond == null || !Number.isFinite(perSecond)) return "–";
  return `${fmtCount(perSecond)}/s`;
}

export function fmtCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "–";
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(abs >= 1e10 ? 0 : 1)}G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(abs >= 1e4 ? 0 : 1)}k`;
  return abs >= 10 || Number.isInteger(n) ? n.toFixed(0) : n.toFixed(1);
}

export function fmtBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** A duration in ms as "850 ms", "12.3 s", "4m 05s", "2h 03m", "3d 04h". */
export function fmtDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return "–";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const pad = (x: number) => String(Math.floor(x)).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${pad((s % 86400) / 3600)}h`;
}

/** Epoch ms as local date and time, "2024-05-01 12:03:04". */
export function fmtTime(epochMs: number | null | undefined): string {
  if (epochMs == null || !Number.isFinite(epochMs)) return "–";
  const d = new Date(epochMs);
  const p = (x: number) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Epoch ms as a short local time: "12:03:04" today, else "05-01 12:03". */
export function fmtShortTime(epochMs: number | null | undefined, now = Date.now()): string {
  if (epochMs == null || !Number.isFinite(epochMs)) return "–";
  const d = new Date(epochMs);
  const p = (x: number) => String(x).padStart(2, "0");
  if (new Date(now).toDateString() === d.toDateString()) return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Epoch ms as "12 s ago". */
export function fmtAgo(epochMs: number | null | undefined, now = Date.now()): string {
  if (epochMs == null || !Number.isFinite(epochMs)) return "–";
  return `${fmtDuration(now - epochMs)} ago`;
}

export function fmtPercent(ratio: number | null | undefined): string {
  if (ratio == null || !Number.isFinite(ratio)) return "–";
  return `${Math.round(ratio * 100)}%`;
}

/** Whether a deployment in this state has a running (or restarting) job. */
export function isRunning(state: string): boolean {
  return state === "RUNNING" || state === "FAILING" || state === "RESTARTING";
}
