// LineChart: an ECharts time-series line chart of one or more series. The container carries
// data-last-value (the newest plotted value, the largest over the series) and data-points, so
// that tests and scripts can read what is drawn.
import { useEffect, useRef } from "react";
import * as echarts from "echarts/core";
import { LineChart as ELineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([ELineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

export interface ChartSeries {
  name: string;
  /** [epoch ms, value] pairs; null leaves a gap. */
  points: [number, number | null][];
  color?: string;
}

interface Props {
  id?: string;
  title: string;
  series: ChartSeries[];
  format: (v: number) => string;
  height?: number;
}

function lastValue(points: [number, number | null][]): number | null {
  for (let i = points.length - 1; i >= 0; i--) {
    const v = points[i]?.[1];
    if (v != null && Number.isFinite(v)) return v;
  }
  return null;
}

export function LineChart({ id, title, series, format, height = 180 }: Props) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const formatRef = useRef(format);
  formatRef.current = format;

  useEffect(() => {
    if (!el.current) return;
    const c = echarts.init(el.current, undefined, { renderer: "canvas" });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    // The x axis spans the samples (at most the last hour), and at least a minute.
    let xMin = Infinity;
    let xMax = -Infinity;
    for (const s of series) {
      const first = s.points[0]?.[0];
      const last = s.points[s.points.length - 1]?.[0];
      if (first != null) xMin = Math.min(xMin, first);
      if (last != null) xMax = Math.max(xMax, last);
    }
    const range = Number.isFinite(xMax) ? { min: Math.max(xMax - 3600_000, Math.min(xMin, xMax - 60_000)), max: xMax } : {};
    chart.current?.setOption(
      {
        animation: false,
        grid: { left: 56, right: 12, top: 28, bottom: 24 },
        legend: { top: 0, right: 0, itemWidth: 12, itemHeight: 8, textStyle: { fontSize: 11 } },
        tooltip: {
          trigger: "axis",
          valueFormatter: (v: unknown) => (typeof v === "number" ? formatRef.current(v) : "–"),
        },
        xAxis: { type: "time", ...range, axisLabel: { fontSize: 10, hideOverlap: true }, splitLine: { show: false } },
        yAxis: {
          type: "value",
          min: 0,
          axisLabel: { fontSize: 10, formatter: (v: number) => formatRef.current(v) },
          splitLine: { lineStyle: { color: "#eef0f3" } },
        },
        series: series.map((s) => ({
          name: s.name,
          type: "line",
          data: s.points,
          showSymbol: s.points.length < 3,
          connectNulls: false,
          sampling: "lttb",
          lineStyle: { width: 1.5 },
          ...(s.color ? { color: s.color } : {}),
        })),
      },
      { notMerge: true },
    );
  }, [series]);

  const lasts = series.map((s) => lastValue(s.points)).filter((v): v is number => v != null);
  const last = lasts.length ? Math.max(...lasts) : null;
  const points = series[0]?.points.length ?? 0;
  const summary = series.map((s) => `${s.name} ${(() => { const v = lastValue(s.points); return v == null ? "no data" : format(v); })()}`).join(", ");

  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div className="chart-body">
        <div
          ref={el}
          id={id}
          className="chart-canvas"
          style={{ height }}
          role="img"
          aria-label={`${title}: ${summary}`}
          data-last-value={last ?? ""}
          data-points={points}
        />
        {last == null && <div className="chart-empty">{points === 0 ? "no samples yet" : "no data yet"}</div>}
      </div>
    </figure>
  );
}
