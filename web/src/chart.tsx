// A small SVG line chart: one series over time, y from 0 to max.  Points are drawn as circles
// (data-points tells how many), with the latest value in the title.
export interface Point {
  t: number; // unix seconds
  v: number;
}

export function Chart(props: {
  title: string;
  points: Point[];
  max: number;
  fmt: (v: number) => string;
  windowS?: number;
}) {
  const W = 600,
    H = 160,
    L = 56,
    R = 8,
    T = 10,
    B = 22;
  const pts = props.points;
  const now = pts.length ? pts[pts.length - 1].t : Date.now() / 1000;
  // the last windowS seconds, or less while there is less data (at least 30 s)
  const span = props.windowS ?? 300;
  const first = pts.length ? pts[0].t : now - span;
  const t0 = Math.min(now - 30, Math.max(now - span, first));
  const max = props.max > 0 ? props.max : 1;
  const x = (t: number) => L + ((t - t0) / Math.max(1, now - t0)) * (W - L - R);
  const y = (v: number) => T + (1 - Math.min(v, max) / max) * (H - T - B);
  const last = pts.length ? pts[pts.length - 1].v : undefined;
  const ticks = [0, 0.5, 1].map((f) => f * max);
  const id = "chart-" + props.title.toLowerCase().replace(/[^a-z]+/g, "-");
  return (
    <figure class="chart" data-points={pts.length} id={id}>
      <figcaption>
        {props.title}: <strong>{last === undefined ? "no data yet" : props.fmt(last)}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${props.title} over time, ${pts.length} samples`}>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={L} x2={W - R} y1={y(v)} y2={y(v)} class="grid" />
            <text x={L - 6} y={y(v) + 4} class="tick" text-anchor="end">
              {props.fmt(v)}
            </text>
          </g>
        ))}
        <text x={L} y={H - 6} class="tick">
          {new Date(t0 * 1000).toLocaleTimeString()}
        </text>
        <text x={W - R} y={H - 6} class="tick" text-anchor="end">
          {new Date(now * 1000).toLocaleTimeString()}
        </text>
        {pts.length > 1 ? (
          <polyline class="line" points={pts.filter((p) => p.t >= t0).map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ")} />
        ) : null}
        {pts.filter((p) => p.t >= t0).map((p) => (
          <circle class="pt" cx={x(p.t)} cy={y(p.v)} r={2.5} key={p.t}>
            <title>
              {new Date(p.t * 1000).toLocaleTimeString()}: {props.fmt(p.v)}
            </title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}
