// A time-series line chart on uPlot that follows its container's width.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

function clock(d: Date): string {
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

export interface SeriesSpec {
  label: string;
  color: string;
}

export class TimeChart {
  readonly plot: uPlot;
  private readonly data: number[][];
  private readonly observer: ResizeObserver;

  constructor(
    readonly el: HTMLElement,
    series: SeriesSpec[],
    private readonly maxPoints = 600,
    height = 200,
    unit = "",
    legend = true,
  ) {
    this.data = [[], ...series.map(() => [])];
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          fill: `${s.color}1a`,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v == null ? "–" : `${+v.toFixed(2)}${unit ? ` ${unit}` : ""}`),
        })),
      ],
      axes: [
        {
          stroke: "#5d6679",
          grid: { stroke: "#eef1f6" },
          space: 70,
          // Whole seconds at least, always as local HH:mm:ss: samples are seconds apart, not milliseconds.
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400],
          values: (_u: uPlot, splits: number[]) => splits.map((v) => clock(new Date(v * 1000))),
        },
        { stroke: "#5d6679", grid: { stroke: "#eef1f6" }, size: 56 },
      ],
      scales: { x: { time: true } },
      legend: { show: legend, live: false },
      cursor: { drag: { x: false, y: false } },
    };
    this.plot = new uPlot(opts, this.data as uPlot.AlignedData, el);
    this.observer = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height });
    });
    this.observer.observe(el);
    el.dataset.points = "0";
  }

  /** Adds one sample; `values` has one entry per series (null leaves a gap). */
  push(timeMs: number, values: (number | null)[]): void {
    this.data[0].push(timeMs / 1000);
    values.forEach((v, i) => this.data[i + 1].push(v as number));
    if (this.data[0].length > this.maxPoints) for (const col of this.data) col.shift();
    this.plot.setData(this.data as uPlot.AlignedData);
    this.el.dataset.points = String(this.data[0].length);
  }

  /** Replaces the samples: `times` in milliseconds, one value array per series. */
  load(times: number[], values: number[][]): void {
    this.data.length = 0;
    this.data.push(times.map((t) => t / 1000), ...values.map((v) => v.slice()));
    this.plot.setData(this.data as uPlot.AlignedData);
    this.el.dataset.points = String(times.length);
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot.destroy();
  }
}
