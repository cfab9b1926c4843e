// OperatorGraph: the job graph as a left-to-right layered SVG — an operator per box with its
// parallelism, records/s in and out, busy ratio (the backpressure indicator, coloured) and
// watermark; edges labelled with their exchange (forward, hash[…], broadcast, single).
import type { GraphNode, OperatorMetrics } from "../api/client";
import { fmtDuration, fmtPercent, fmtRate } from "../format";

interface Props {
  nodes: GraphNode[];
  metrics: OperatorMetrics[];
  now: number;
}

const W = 210;
const H = 84;
const GAP_X = 90;
const GAP_Y = 22;
const PAD = 12;
/** A wide graph shrinks to fit the page down to this scale, then scrolls. */
const MIN_SCALE = 0.85;

export function busyTone(ratio: number | null | undefined): "ok" | "warn" | "bad" | "idle" {
  if (ratio == null || !Number.isFinite(ratio)) return "idle";
  if (ratio >= 0.8) return "bad";
  if (ratio >= 0.5) return "warn";
  return "ok";
}

const toneColor = { ok: "#16a34a", warn: "#d97706", bad: "#dc2626", idle: "#94a3b8" };

/** Each node's layer: the longest path from a source; a source sits just before its first consumer. */
function layers(nodes: GraphNode[]): Map<number, number> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = new Map<number, number>();
  const visiting = new Set<number>();
  const visit = (id: number): number => {
    const known = depth.get(id);
    if (known != null) return known;
    if (visiting.has(id)) return 0; // a cycle: should not happen in a job graph
    visiting.add(id);
    const n = byId.get(id);
    let d = 0;
    for (const e of n?.inputs ?? []) if (byId.has(e.node)) d = Math.max(d, visit(e.node) + 1);
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  nodes.forEach((n) => visit(n.id));
  // Pull sources (e.g. the lookup side of a join) next to the operator that reads them.
  for (const n of nodes) {
    if (n.inputs.length > 0) continue;
    const consumers = nodes.filter((c) => c.inputs.some((e) => e.node === n.id)).map((c) => depth.get(c.id) ?? 0);
    if (consumers.length) depth.set(n.id, Math.max(0, Math.min(...consumers) - 1));
  }
  return depth;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function OperatorGraph({ nodes, metrics, now }: Props) {
  if (nodes.length === 0) return <p className="muted">No operators.</p>;
  const depth = layers(nodes);
  const columns: GraphNode[][] = [];
  for (const n of [...nodes].sort((a, b) => a.id - b.id)) {
    const d = depth.get(n.id) ?? 0;
    (columns[d] ??= []).push(n);
  }
  // Order each layer by the mean position of its inputs (fewer crossings).
  const row = new Map<number, number>();
  columns.forEach((col, d) => {
    if (d > 0) {
      const key = (n: GraphNode) => {
        const ys = n.inputs.map((e) => row.get(e.node)).filter((y): y is number => y != null);
        return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : 0;
      };
      col.sort((a, b) => key(a) - key(b) || a.id - b.id);
    }
    col.forEach((n, i) => row.set(n.id, i - (col.length - 1) / 2));
  });
  const tallest = Math.max(...columns.map((c) => c?.length ?? 0));
  const height = PAD * 2 + tallest * H + (tallest - 1) * GAP_Y;
  const width = PAD * 2 + columns.length * W + (columns.length - 1) * GAP_X;
  const pos = new Map<number, { x: number; y: number }>();
  columns.forEach((col, d) =>
    col.forEach((n) => {
      const r = row.get(n.id) ?? 0;
      pos.set(n.id, { x: PAD + d * (W + GAP_X), y: height / 2 + r * (H + GAP_Y) - H / 2 });
    }),
  );
  const byNode = new Map(metrics.map((m) => [m.node, m]));
  // Each edge runs from its input's right side through a label point in the gap before its
  // target (so that labels never sit under a box) to the target's left side.
  const edges = nodes.flatMap((n) =>
    n.inputs.flatMap((e, i) => {
      const a = pos.get(e.node);
      const b = pos.get(n.id);
      if (!a || !b) return [];
      const x1 = a.x + W;
      const y1 = a.y + H / 2;
      const x2 = b.x - 2;
      const y2 = b.y + H / 2;
      const span = Math.max(1, Math.round((b.x - a.x) / (W + GAP_X)));
      const lx = b.x - GAP_X / 2;
      const ly = y2 + (y1 - y2) * (span > 1 ? 0.3 : 0.5);
      const c1 = (lx - x1) / 2;
      const c2 = (x2 - lx) / 2;
      const d = `M ${x1} ${y1} C ${x1 + c1} ${y1}, ${lx - c1} ${ly}, ${lx} ${ly} C ${lx + c2} ${ly}, ${x2 - c2} ${y2}, ${x2} ${y2}`;
      const label = truncate(e.exchange, 11);
      return [{ key: `${e.node}-${n.id}-${i}`, d, lx, ly, label, lw: label.length * 6.4 + 12, exchange: e.exchange }];
    }),
  );

  return (
    <div className="graph-scroll">
      <svg
        className="operator-graph"
        id="operator-graph"
        viewBox={`0 0 ${width} ${height}`}
        style={{ width: "100%", height: "auto", maxWidth: width, minWidth: Math.round(width * MIN_SCALE) }}
        role="group"
        aria-label="Operator graph"
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" />
          </marker>
        </defs>
        {edges.map((e) => (
          <path key={e.key} className="edge" d={e.d} fill="none" stroke="#64748b" strokeWidth={1.4} markerEnd="url(#arrow)" />
        ))}
        {nodes.map((n) => {
          const p = pos.get(n.id);
          if (!p) return null;
          const m = byNode.get(n.id);
          const tone = busyTone(m?.busy_ratio);
          const wm = m?.watermark_ms ?? m?.input_watermark_ms;
          const busy = m?.busy_ratio ?? 0;
          const summary = `${n.name}, parallelism ${n.parallelism}, in ${fmtRate(m?.records_in_per_s)}, out ${fmtRate(m?.records_out_per_s)}, busy ${fmtPercent(m?.busy_ratio)}, watermark lag ${wm != null ? fmtDuration(now - wm) : "none"}`;
          return (
            <g key={n.id} transform={`translate(${p.x}, ${p.y})`} className="node" tabIndex={0} aria-label={summary} data-node={n.id}>
              <title>{summary}</title>
              <rect width={W} height={H} rx={6} fill="#fff" stroke={toneColor[tone]} strokeWidth={tone === "idle" ? 1.2 : 2} />
              <text x={10} y={18} className="node-title">
                {truncate(n.name, 27)}
              </text>
              <text x={10} y={37} className="node-line">
                <tspan className="node-par">×{n.parallelism}</tspan> · in {fmtRate(m?.records_in_per_s)} · out {fmtRate(m?.records_out_per_s)}
              </text>
              <text x={10} y={55} className="node-line">
                wm {wm != null ? `lag ${fmtDuration(now - wm)}` : "–"}
                {m?.source ? " · source" : m?.sink ? " · sink" : ""}
              </text>
              <text x={10} y={74} className="node-line">
                busy {fmtPercent(m?.busy_ratio)}
              </text>
              <rect x={78} y={66} width={W - 88} height={8} rx={4} fill="#e2e8f0" />
              <rect x={78} y={66} width={Math.max(0, Math.min(1, busy)) * (W - 88)} height={8} rx={4} fill={toneColor[tone]} />
            </g>
          );
        })}
        {edges.map((e) => (
          <g key={e.key} transform={`translate(${e.lx - e.lw / 2}, ${e.ly - 9})`} className="edge-tag">
            <title>{e.exchange}</title>
            <rect width={e.lw} height={18} rx={9} fill="#f1f5f9" stroke="#cbd5e1" />
            <text x={e.lw / 2} y={12.5} textAnchor="middle" className="edge-label">
              {e.label}
            </text>
          </g>
        ))}
      </svg>
    </div>
  );
}
