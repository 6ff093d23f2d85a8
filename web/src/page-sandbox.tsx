// One sandbox: info and actions, then tabs: terminal, files, metrics, console log.
import { useEffect, useRef, useState } from "preact/hooks";
import { call, enc, type Entry, getKey, type Metric, type Sandbox } from "./api";
import { Chart, type Point } from "./chart";
import { SandboxActions } from "./page-sandboxes";
import { TerminalView } from "./terminal";
import { Action, ago, bytes, Card, ErrorBox, errText, StateBadge, until, usePoll, useTick } from "./ui";

const TABS: [string, string][] = [
  ["terminal", "Terminal"],
  ["files", "Files"],
  ["metrics", "Metrics"],
  ["logs", "Console log"],
];

function Metrics(props: { id: string; running: boolean }) {
  const [pts, setPts] = useState<Metric[]>([]);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    // the last 10 minutes first, then only what is newer than the newest sample seen
    let since = Math.floor(Date.now() / 1000) - 600;
    const load = async () => {
      try {
        const a = await call<Metric[]>(`/sandboxes/${enc(props.id)}/metrics?start=${since}`);
        for (const p of a) since = Math.max(since, p.timestampUnix);
        if (stop) return;
        setErr(null);
        setPts((old) => {
          const m = new Map<number, Metric>();
          for (const p of old) m.set(p.timestampUnix, p);
          for (const p of a) m.set(p.timestampUnix, p);
          return [...m.values()].sort((x, y) => x.timestampUnix - y.timestampUnix).slice(-600);
        });
      } catch (e) {
        if (!stop) setErr(errText(e));
      }
    };
    load();
    const t = setInterval(() => !document.hidden && load(), 2000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [props.id]);
  const series = (f: (m: Metric) => number): Point[] => pts.map((m) => ({ t: m.timestampUnix, v: f(m) }));
  const last = pts[pts.length - 1];
  return (
    <div>
      <ErrorBox error={err} />
      {!props.running ? <p class="hint">Samples come from the running guest; none while paused.</p> : null}
      <div class="charts">
        <Chart title="CPU" points={series((m) => m.cpuUsedPct)} max={100} fmt={(v) => `${v.toFixed(0)}%`} />
        <Chart title="Memory" points={series((m) => m.memUsed)} max={last?.memTotal ?? 1} fmt={bytes} />
        <Chart title="Disk" points={series((m) => m.diskUsed)} max={last?.diskTotal ?? 1} fmt={bytes} />
      </div>
    </div>
  );
}

function ConsoleLog(props: { id: string }) {
  const [text, setText] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [follow, setFollow] = useState(true);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    let stop = false;
    let offset: string | null = null;
    const load = async () => {
      try {
        const q: string = offset === null ? "tail=65536" : `offset=${enc(offset)}`;
        const r = await call<Response>(`/v1/sandboxes/${enc(props.id)}/logs?${q}`, { raw: true });
        const t = await r.text();
        offset = r.headers.get("X-Next-Token") ?? offset;
        if (stop) return;
        setErr(null);
        if (t) setText((old) => (old + t).slice(-512 * 1024));
      } catch (e) {
        if (!stop) setErr(errText(e));
      }
    };
    load();
    const t = setInterval(() => !document.hidden && load(), 2000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [props.id]);
  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text, follow]);
  return (
    <div>
      <ErrorBox error={err} />
      <label class="check">
        <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow
      </label>
      <pre class="log" ref={pre} tabIndex={0} aria-label="Console log">
        {text || "(empty)"}
      </pre>
    </div>
  );
}

function joinPath(dir: string, name: string) {
  return (dir.endsWith("/") ? dir : dir + "/") + name;
}
function parentOf(p: string) {
  const s = p.replace(/\/+$/, "");
  const i = s.lastIndexOf("/");
  return i <= 0 ? "/" : s.slice(0, i);
}

async function download(id: string, e: Entry) {
  const r = await call<Response>(`/v1/sandboxes/${enc(id)}/files?path=${enc(e.path)}`, { raw: true });
  const blob = await r.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = e.name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** PUT with upload progress (fetch has none). */
function upload(id: string, path: string, f: File, onProgress: (pct: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", `/v1/sandboxes/${enc(id)}/files?path=${enc(path)}`);
    x.setRequestHeader("X-API-Key", getKey() ?? "");
    x.setRequestHeader("Content-Type", "application/octet-stream");
    x.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((100 * e.loaded) / e.total));
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) return resolve();
      let m = `${x.status} ${x.statusText}`;
      try {
        m = JSON.parse(x.responseText).message + ` (${x.status})`;
      } catch {
        /* keep */
      }
      reject(new Error(m));
    };
    x.onerror = () => reject(new Error("upload failed: the agent could not be reached"));
    x.send(f);
  });
}

function Files(props: { id: string; running: boolean }) {
  const [dir, setDir] = useState("/home/user");
  const [typed, setTyped] = useState(dir);
  const [up, setUp] = useState<{ name: string; pct: number } | null>(null);
  const [upErr, setUpErr] = useState<string | null>(null);
  const list = usePoll(
    (signal) => call<{ entries: Entry[] }>(`/v1/sandboxes/${enc(props.id)}/files/list?path=${enc(dir)}`, { signal }),
    0,
    [props.id, dir],
  );
  useEffect(() => setTyped(dir), [dir]);
  if (!props.running) return <p class="hint">Files can be browsed while the sandbox runs.</p>;
  const entries = (list.data?.entries ?? []).slice().sort((a, b) => (a.type === "dir" ? 0 : 1) - (b.type === "dir" ? 0 : 1) || a.name.localeCompare(b.name));
  const onFiles = async (fl: FileList | null) => {
    if (!fl) return;
    setUpErr(null);
    for (const f of Array.from(fl)) {
      setUp({ name: f.name, pct: 0 });
      try {
        await upload(props.id, joinPath(dir, f.name), f, (pct) => setUp({ name: f.name, pct }));
      } catch (e) {
        setUpErr(`${f.name}: ${errText(e)}`);
        break;
      }
    }
    setUp(null);
    list.reload();
  };
  return (
    <div class="files">
      <form
        class="pathbar"
        onSubmit={(e) => {
          e.preventDefault();
          setDir(typed || "/");
        }}
      >
        <button type="button" onClick={() => setDir(parentOf(dir))} disabled={dir === "/"} aria-label="Parent directory">
          ↑
        </button>
        <input aria-label="Directory" value={typed} onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
        <button type="submit">Go</button>
        <label class="button">
          Upload
          <input
            type="file"
            multiple
            class="visually-hidden"
            aria-label="Upload files"
            onChange={(e) => {
              const t = e.target as HTMLInputElement;
              onFiles(t.files).finally(() => (t.value = ""));
            }}
          />
        </label>
      </form>
      {up ? (
        <p class="progress" role="status">
          Uploading {up.name}: <progress max={100} value={up.pct} /> {up.pct}%
        </p>
      ) : null}
      <ErrorBox error={upErr} />
      <ErrorBox error={list.error} />
      <div class="table-wrap">
        <table class="list" aria-label="Files">
          <thead>
            <tr>
              <th>Name</th>
              <th>Size</th>
              <th class="wide">Permissions</th>
              <th class="wide">Modified</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.path} data-name={e.name}>
                <td>
                  {e.type === "dir" ? (
                    <a href="#" onClick={(ev) => { ev.preventDefault(); setDir(e.path); }}>
                      {e.name}/
                    </a>
                  ) : (
                    <span class="mono">{e.name}{e.symlinkTarget ? ` → ${e.symlinkTarget}` : ""}</span>
                  )}
                </td>
                <td class="num">{e.type === "dir" ? "" : bytes(e.size)}</td>
                <td class="wide mono">{e.permissions}</td>
                <td class="wide">{ago(e.modifiedTime)}</td>
                <td>
                  <div class="actions">
                    {e.type === "file" ? <Action label="Download" run={() => download(props.id, e)} /> : null}
                    <Action
                      label="Delete"
                      kind="danger"
                      confirm={`Delete ${e.path}${e.type === "dir" ? " and everything in it" : ""}?`}
                      run={() =>
                        call(`/v1/sandboxes/${enc(props.id)}/files?path=${enc(e.path)}${e.type === "dir" ? "&recursive=true" : ""}`, {
                          method: "DELETE",
                        })
                      }
                      onDone={list.reload}
                    />
                  </div>
                </td>
              </tr>
            ))}
            {!entries.length && !list.loading && !list.error ? (
              <tr>
                <td colSpan={5} class="empty">
                  Empty directory.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function SandboxPage(props: { id: string; tab?: string }) {
  useTick(5000);
  const tab = TABS.some(([t]) => t === props.tab) ? props.tab! : "terminal";
  const sb = usePoll((signal) => call<Sandbox>(`/v1/sandboxes/${enc(props.id)}`, { signal }), 3000, [props.id]);
  const s = sb.data;
  const running = s?.state === "running";
  const [snapName, setSnapName] = useState("");
  const tabRefs = useRef<(HTMLAnchorElement | null)[]>([]);
  const onTabKey = (e: KeyboardEvent, i: number) => {
    const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!d) return;
    e.preventDefault();
    const j = (i + d + TABS.length) % TABS.length;
    location.hash = `#/sandboxes/${enc(props.id)}/${TABS[j][0]}`;
    tabRefs.current[j]?.focus();
  };
  return (
    <>
      <div class="page-head">
        <h1>
          <a href="#/sandboxes">Sandboxes</a> / <span class="mono">{props.id}</span>
        </h1>
        {s ? <SandboxActions sb={s} onDone={sb.reload} /> : null}
      </div>
      <ErrorBox error={sb.error} />
      {s ? (
        <Card>
          <dl class="info">
            <dt>State</dt>
            <dd>
              <StateBadge state={s.state} />
              {s.error ? <span class="error inline">{s.error}</span> : null}
            </dd>
            <dt>Template</dt>
            <dd>{s.template}</dd>
            <dt>Size</dt>
            <dd>
              {s.vcpus} vCPU · {s.memoryMB} MiB
            </dd>
            <dt>Started</dt>
            <dd title={s.startedAt}>{ago(s.startedAt)}</dd>
            <dt>Expires</dt>
            <dd title={s.endAt ?? ""}>{until(s.endAt)}</dd>
            <dt>Internet</dt>
            <dd>{s.allowInternetAccess ? "allowed" : "off"}</dd>
            <dt>envd</dt>
            <dd>{s.envdVersion ?? "—"}</dd>
            <dt>Metadata</dt>
            <dd>
              {Object.entries(s.metadata ?? {}).map(([k, v]) => (
                <span class="tag" key={k}>
                  {k}={v}
                </span>
              ))}
            </dd>
          </dl>
          {s.state === "running" || s.state === "paused" ? (
            <div class="inline-form">
              <input
                aria-label="Snapshot name"
                placeholder="snapshot name (optional)"
                value={snapName}
                onInput={(e) => setSnapName((e.target as HTMLInputElement).value)}
              />
              <Action
                label="Take snapshot"
                busyLabel="Snapshotting…"
                run={() =>
                  call(`/v1/sandboxes/${enc(props.id)}/snapshots`, {
                    method: "POST",
                    body: snapName ? { name: snapName } : {},
                  })
                }
                onDone={() => setSnapName("")}
              />
            </div>
          ) : null}
        </Card>
      ) : null}
      <div class="tabs" role="tablist" aria-label="Sandbox views">
        {TABS.map(([t, label], i) => (
          <a
            key={t}
            role="tab"
            ref={(r) => {
              tabRefs.current[i] = r;
            }}
            href={`#/sandboxes/${enc(props.id)}/${t}`}
            aria-selected={tab === t}
            tabIndex={tab === t ? 0 : -1}
            onKeyDown={(e) => onTabKey(e, i)}
          >
            {label}
          </a>
        ))}
      </div>
      <section class="card tabpanel" role="tabpanel" aria-label={tab}>
        {tab === "terminal" ? <TerminalView id={props.id} running={running} /> : null}
        {tab === "files" ? <Files id={props.id} running={running} /> : null}
        {tab === "metrics" ? <Metrics id={props.id} running={running} /> : null}
        {tab === "logs" ? <ConsoleLog id={props.id} /> : null}
      </section>
    </>
  );
}
