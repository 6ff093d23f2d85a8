// Sandboxes: the live list (filters, create, pause/resume/kill/timeout) with CPU and memory.
import { useEffect, useRef, useState } from "preact/hooks";
import { call, enc, type Metric, type Sandbox, templateChoices } from "./api";
import { Action, ago, bytes, Card, ErrorBox, errText, StateBadge, until, usePoll, useTick } from "./ui";

const STATES = ["running,paused", "running", "paused", "running,paused,killed,error", "killed", "error"];
const STATE_LABEL: Record<string, string> = {
  "running,paused": "live (running + paused)",
  "running,paused,killed,error": "all",
};

function parseKV(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of text.split(/[\n,&]/)) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf("=");
    if (i <= 0) return `"${p}" is not key=value`;
    out[p.slice(0, i).trim()] = p.slice(i + 1).trim();
  }
  return out;
}

/** Latest metric of each running sandbox in `ids` (one call: GET /sandboxes/metrics), every 5 s. */
function useMetrics(ids: string[]) {
  const [m, setM] = useState<Record<string, Metric>>({});
  const key = ids.slice(0, 100).join(",");
  useEffect(() => {
    if (!key) {
      setM({});
      return;
    }
    let stop = false;
    const load = async () => {
      try {
        const r = await call<{ sandboxes: Record<string, Metric> }>(`/sandboxes/metrics?sandbox_ids=${enc(key)}`);
        if (!stop) setM(r.sandboxes ?? {});
      } catch {
        /* the list shows "—" without samples */
      }
    };
    load();
    const t = setInterval(() => !document.hidden && load(), 5000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [key]);
  return m;
}

type Choice = { name: string; label: string };

function CreateDialog(props: { templates: Choice[]; onClose: (created?: Sandbox) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [tpl, setTpl] = useState(props.templates.find((t) => t.name === "minimal")?.name ?? props.templates[0]?.name ?? "base");
  const [vcpus, setVcpus] = useState("1");
  const [mem, setMem] = useState("512");
  const [timeout, setTimeoutS] = useState("300");
  const [meta, setMeta] = useState("");
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const md = parseKV(meta);
    if (typeof md === "string") {
      setErr("metadata: " + md);
      return;
    }
    setBusy(true);
    setErr(null);
    try {
      const sb = await call<Sandbox>("/v1/sandboxes", {
        method: "POST",
        body: { template: tpl, vcpus: +vcpus, memoryMB: +mem, timeout: +timeout, metadata: md },
      });
      ref.current?.close();
      props.onClose(sb);
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} aria-labelledby="create-title" onClose={() => props.onClose()} onCancel={() => props.onClose()}>
      <form onSubmit={submit} class="form">
        <h2 id="create-title">New sandbox</h2>
        <label>
          Template
          <select value={tpl} onChange={(e) => setTpl((e.target as HTMLSelectElement).value)} name="template">
            {props.templates.map((t) => (
              <option value={t.name} key={t.name}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <div class="row">
          <label>
            vCPUs
            <input type="number" min={1} value={vcpus} name="vcpus" onInput={(e) => setVcpus((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            Memory (MiB)
            <input type="number" min={128} step={128} value={mem} name="memoryMB" onInput={(e) => setMem((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            Timeout (s, 0 = none)
            <input type="number" min={0} value={timeout} name="timeout" onInput={(e) => setTimeoutS((e.target as HTMLInputElement).value)} />
          </label>
        </div>
        <label>
          Metadata (key=value, one per line)
          <textarea rows={2} value={meta} name="metadata" onInput={(e) => setMeta((e.target as HTMLTextAreaElement).value)} />
        </label>
        <ErrorBox error={err} />
        {busy ? (
          <p class="progress" role="status">
            <span class="spinner" aria-hidden="true" /> Creating: booting the VM and waiting for envd…
          </p>
        ) : null}
        <div class="buttons">
          <button type="button" onClick={() => { ref.current?.close(); props.onClose(); }} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Creating…" : "Create"}
          </button>
        </div>
      </form>
    </dialog>
  );
}

function TimeoutEdit(props: { sb: Sandbox; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [v, setV] = useState("300");
  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)} title="Set the time to live">
        Timeout
      </button>
    );
  return (
    <span class="inline-form">
      <input
        type="number"
        min={0}
        value={v}
        aria-label={`New timeout of ${props.sb.id} in seconds`}
        onInput={(e) => setV((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => e.key === "Escape" && setOpen(false)}
        style={{ width: "6em" }}
      />
      <Action
        label="Set"
        run={() => call(`/v1/sandboxes/${enc(props.sb.id)}/timeout`, { method: "POST", body: { timeout: +v } })}
        onDone={() => {
          setOpen(false);
          props.onDone();
        }}
      />
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </span>
  );
}

export function SandboxActions(props: { sb: Sandbox; onDone: () => void }) {
  const { sb, onDone } = props;
  const base = `/v1/sandboxes/${enc(sb.id)}`;
  return (
    <div class="actions">
      {sb.state === "running" ? (
        <Action label="Pause" busyLabel="Pausing…" run={() => call(base + "/pause", { method: "POST" })} onDone={onDone} />
      ) : null}
      {sb.state === "paused" ? (
        <Action label="Resume" busyLabel="Resuming…" run={() => call(base + "/resume", { method: "POST" })} onDone={onDone} />
      ) : null}
      {sb.state === "running" || sb.state === "paused" ? <TimeoutEdit sb={sb} onDone={onDone} /> : null}
      {sb.state !== "killed" ? (
        <Action
          label="Kill"
          busyLabel="Killing…"
          kind="danger"
          confirm={`Kill sandbox ${sb.id}? Its disk is deleted.`}
          run={() => call(base, { method: "DELETE" })}
          onDone={onDone}
        />
      ) : null}
    </div>
  );
}

export function SandboxesPage() {
  useTick(5000);
  const [states, setStates] = useState(STATES[0]);
  const [tpl, setTpl] = useState("");
  const [meta, setMeta] = useState("");
  const [creating, setCreating] = useState(false);
  const md = parseKV(meta);
  const metaQ =
    typeof md === "string" ? null : Object.entries(md).map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&");
  const templates = usePoll((signal) => templateChoices(signal), 30000, []);
  const list = usePoll(
    (signal) => {
      const q = [`state=${enc(states)}`];
      if (tpl) q.push(`template=${enc(tpl)}`);
      if (metaQ) q.push(`metadata=${enc(metaQ)}`);
      return call<{ sandboxes: Sandbox[] }>(`/v1/sandboxes?${q.join("&")}`, { signal });
    },
    3000,
    [states, tpl, metaQ],
  );
  const rows = list.data?.sandboxes ?? [];
  const metrics = useMetrics(rows.filter((s) => s.state === "running").map((s) => s.id));
  return (
    <>
      <div class="page-head">
        <h1>Sandboxes</h1>
        <button type="button" class="primary" onClick={() => setCreating(true)} disabled={!templates.data}>
          New sandbox
        </button>
      </div>
      <Card>
        <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
          <label>
            State
            <select value={states} onChange={(e) => setStates((e.target as HTMLSelectElement).value)} name="state">
              {STATES.map((s) => (
                <option value={s} key={s}>
                  {STATE_LABEL[s] ?? s}
                </option>
              ))}
            </select>
          </label>
          <label>
            Template
            <select value={tpl} onChange={(e) => setTpl((e.target as HTMLSelectElement).value)} name="template">
              <option value="">any</option>
              {(templates.data ?? []).map((t) => (
                <option value={t.name} key={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Metadata
            <input
              type="search"
              placeholder="key=value, …"
              value={meta}
              name="metadata"
              onInput={(e) => setMeta((e.target as HTMLInputElement).value)}
              aria-invalid={typeof md === "string" ? true : undefined}
            />
          </label>
          {typeof md === "string" ? <span class="error inline">{md}</span> : null}
        </form>
        <ErrorBox error={list.error ?? templates.error} />
        <div class="table-wrap">
          <table class="list" aria-label="Sandboxes" aria-busy={list.loading}>
            <thead>
              <tr>
                <th>ID</th>
                <th>State</th>
                <th>Template</th>
                <th class="wide">Age</th>
                <th>Expires</th>
                <th class="wide">Size</th>
                <th>CPU</th>
                <th>Memory</th>
                <th>Metadata</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => {
                const m = metrics[s.id];
                return (
                  <tr key={s.id} data-id={s.id} data-state={s.state}>
                    <td>
                      <a href={`#/sandboxes/${enc(s.id)}`} class="mono">
                        {s.id}
                      </a>
                    </td>
                    <td>
                      <StateBadge state={s.state} />
                    </td>
                    <td>{s.template}</td>
                    <td class="wide">{ago(s.startedAt)}</td>
                    <td title={s.endAt ?? "no expiry"}>{until(s.endAt)}</td>
                    <td class="wide">
                      {s.vcpus} vCPU · {s.memoryMB} MiB
                    </td>
                    <td class="num">{m ? `${m.cpuUsedPct.toFixed(0)}%` : "—"}</td>
                    <td class="num">{m ? `${bytes(m.memUsed)} / ${bytes(m.memTotal)}` : "—"}</td>
                    <td class="meta">
                      {Object.entries(s.metadata ?? {}).map(([k, v]) => (
                        <span class="tag" key={k}>
                          {k}={v}
                        </span>
                      ))}
                    </td>
                    <td>
                      <SandboxActions sb={s} onDone={list.reload} />
                    </td>
                  </tr>
                );
              })}
              {!rows.length && !list.loading ? (
                <tr>
                  <td colSpan={10} class="empty">
                    No sandboxes match.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      </Card>
      {creating ? (
        <CreateDialog
          templates={templates.data ?? []}
          onClose={(sb) => {
            setCreating(false);
            if (sb) location.hash = `#/sandboxes/${enc(sb.id)}`;
            else list.reload();
          }}
        />
      ) : null}
    </>
  );
}
