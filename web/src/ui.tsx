// Small shared pieces: polling, action buttons with progress and their errors, formatting.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";

export function errText(e: unknown): string {
  if (e instanceof ApiError) return e.status ? `${e.message} (${e.status})` : e.message;
  return (e as Error)?.message ?? String(e);
}

/** Load with f now and every `ms` (0 = once); reload() on demand.  Errors are kept, not thrown. */
export function usePoll<T>(f: (signal: AbortSignal) => Promise<T>, ms: number, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const gen = useRef(0);
  const run = useCallback(async () => {
    const g = ++gen.current;
    const ac = new AbortController();
    try {
      const v = await f(ac.signal);
      if (g === gen.current) {
        setData(v);
        setError(null);
      }
    } catch (e) {
      if ((e as Error).name !== "AbortError" && g === gen.current) setError(errText(e));
    } finally {
      if (g === gen.current) setLoading(false);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    setLoading(true);
    run();
    if (!ms) return;
    const t = setInterval(() => {
      if (!document.hidden) run();
    }, ms);
    return () => clearInterval(t);
  }, [run, ms]);
  return { data, error, loading, reload: run };
}

/** A button that runs an async action: busy while it runs, its error shown next to it. */
export function Action(props: {
  label: string;
  busyLabel?: string;
  run: () => Promise<unknown>;
  confirm?: string;
  kind?: "danger" | "primary";
  disabled?: boolean;
  title?: string;
  onDone?: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const click = async () => {
    if (props.confirm && !window.confirm(props.confirm)) return;
    setBusy(true);
    setErr(null);
    try {
      await props.run();
      props.onDone?.();
    } catch (e) {
      setErr(errText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button
        type="button"
        class={props.kind ?? ""}
        disabled={busy || props.disabled}
        aria-busy={busy}
        title={props.title}
        onClick={click}
      >
        {busy ? <span class="spinner" aria-hidden="true" /> : null}
        {busy ? (props.busyLabel ?? props.label + "…") : props.label}
      </button>
      {err ? (
        <span class="error inline" role="alert">
          {err}
        </span>
      ) : null}
    </span>
  );
}

export function ErrorBox(props: { error?: string | null }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {props.error}
    </p>
  );
}

export function Card(props: { title?: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      {props.title || props.actions ? (
        <header class="card-head">
          {props.title ? <h2>{props.title}</h2> : <span />}
          <div class="card-actions">{props.actions}</div>
        </header>
      ) : null}
      {props.children}
    </section>
  );
}

export function ago(iso?: string | null): string {
  if (!iso) return "—";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return dur(s) + " ago";
}
export function until(iso?: string | null): string {
  if (!iso) return "never";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return s <= 0 ? "now" : "in " + dur(s);
}
export function dur(s: number): string {
  s = Math.abs(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
export function bytes(n?: number): string {
  if (n === undefined || n === null) return "—";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${u[i]}`;
}

/** Re-render every `ms` (relative times). */
export function useTick(ms: number) {
  const [, set] = useState(0);
  useEffect(() => {
    const t = setInterval(() => set((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
}

export function StateBadge(props: { state: string }) {
  return <span class={"badge state-" + props.state}>{props.state}</span>;
}
