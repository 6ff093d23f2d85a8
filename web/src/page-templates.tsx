// Templates: the list, delete, and a build from a Dockerfile with its live log.
import { useEffect, useRef, useState } from "preact/hooks";
import { type BuildInfo, type BuiltTemplate, call, enc, type Template } from "./api";
import { tar } from "./tar";
import { Action, ago, bytes, Card, ErrorBox, errText, usePoll } from "./ui";

const EXAMPLE = `FROM minimal
RUN echo hello > /etc/motd
`;

function Build(props: { onBuilt: () => void }) {
  const [name, setName] = useState("");
  const [df, setDf] = useState(EXAMPLE);
  const [extra, setExtra] = useState<File[]>([]);
  const [force, setForce] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [build, setBuild] = useState<{ name: string; id: string } | null>(null);
  const [info, setInfo] = useState<BuildInfo | null>(null);
  const [busy, setBusy] = useState(false);
  const log = useRef<HTMLPreElement>(null);
  const te = new TextEncoder();
  const start = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    setInfo(null);
    setBusy(true);
    try {
      const files = [{ name: "Dockerfile", data: te.encode(df) }];
      for (const f of extra) files.push({ name: f.name, data: new Uint8Array(await f.arrayBuffer()) });
      const r = await call<{ buildID: string; name: string }>(
        `/v1/templates/${enc(name)}/builds${force ? "?force=true" : ""}`,
        { method: "POST", body: tar(files), contentType: "application/x-tar" },
      );
      setBuild({ name, id: r.buildID });
    } catch (x) {
      setErr(errText(x));
      setBusy(false);
    }
  };
  useEffect(() => {
    if (!build) return;
    let stop = false;
    const poll = async () => {
      try {
        const i = await call<BuildInfo>(`/v1/templates/${enc(build.name)}/builds/${enc(build.id)}`);
        if (stop) return;
        setInfo(i);
        if (i.status === "ready" || i.status === "error") {
          setBusy(false);
          props.onBuilt();
          return;
        }
      } catch (x) {
        if (stop) return;
        setErr(errText(x));
      }
      setTimeout(poll, 1000);
    };
    poll();
    return () => {
      stop = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [build]);
  useEffect(() => {
    if (log.current) log.current.scrollTop = log.current.scrollHeight;
  }, [info]);
  return (
    <Card title="Build from a Dockerfile">
      <form class="form" onSubmit={start}>
        <div class="row">
          <label>
            Name
            <input
              required
              pattern="[a-z0-9_][a-z0-9._\-]{0,49}(:[a-z0-9_][a-z0-9._\-]{0,49})?"
              value={name}
              name="name"
              placeholder="my-template"
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            Context files (for COPY)
            <input type="file" multiple onChange={(e) => setExtra(Array.from((e.target as HTMLInputElement).files ?? []))} />
          </label>
          <label class="check">
            <input type="checkbox" checked={force} onChange={(e) => setForce((e.target as HTMLInputElement).checked)} /> bypass the step cache
          </label>
        </div>
        <label>
          Dockerfile
          <textarea rows={6} class="mono" value={df} name="dockerfile" onInput={(e) => setDf((e.target as HTMLTextAreaElement).value)} />
        </label>
        <ErrorBox error={err} />
        <div class="buttons">
          <button type="submit" class="primary" disabled={busy || !name}>
            {busy ? "Building…" : "Build"}
          </button>
        </div>
      </form>
      {info ? (
        <div class="build">
          <p role="status" class={"progress build-" + info.status}>
            {info.status === "building" || info.status === "waiting" ? <span class="spinner" aria-hidden="true" /> : null}
            Build <span class="mono">{info.buildID}</span>: <strong>{info.status}</strong>
            {info.reason?.message ? <span class="error inline">{info.reason.message}</span> : null}
          </p>
          <pre class="log" ref={log} tabIndex={0} aria-label="Build log">
            {info.logEntries.map((l) => `${l.timestamp.slice(11, 19)} ${l.level.padEnd(5)} ${l.step ? "[" + l.step + "] " : ""}${l.message}`).join("\n")}
          </pre>
        </div>
      ) : null}
    </Card>
  );
}

export function TemplatesPage() {
  const built = usePoll((signal) => call<BuiltTemplate[]>("/templates", { signal }), 10000, []);
  const images = usePoll((signal) => call<{ templates: Template[] }>("/v1/templates", { signal }), 30000, []);
  const rows = built.data ?? [];
  return (
    <>
      <div class="page-head">
        <h1>Templates</h1>
      </div>
      <Card title="Built templates">
        <ErrorBox error={built.error} />
        <div class="table-wrap">
          <table class="list" aria-label="Templates">
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th class="wide">Size</th>
                <th class="num">Builds</th>
                <th class="num">Sandboxes</th>
                <th class="wide">Updated</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((t) => {
                const name = t.aliases?.[0] ?? t.templateID;
                return (
                  <tr key={t.templateID} data-name={name}>
                    <td class="mono">{name}</td>
                    <td>
                      <span class={"badge " + (t.buildStatus === "ready" ? "state-running" : t.buildStatus === "error" ? "state-error" : "state-paused")}>
                        {t.buildStatus ?? "unknown"}
                      </span>
                    </td>
                    <td class="wide">
                      {t.cpuCount ?? "?"} vCPU · {t.memoryMB ?? "?"} MiB
                    </td>
                    <td class="num">{t.buildCount ?? ""}</td>
                    <td class="num">{t.spawnCount ?? ""}</td>
                    <td class="wide">{ago(t.updatedAt ?? t.createdAt)}</td>
                    <td>
                      <Action
                        label="Delete"
                        kind="danger"
                        confirm={`Delete template ${name}?`}
                        run={() => call(`/templates/${enc(t.templateID)}`, { method: "DELETE" })}
                        onDone={built.reload}
                      />
                    </td>
                  </tr>
                );
              })}
              {!rows.length && !built.loading ? (
                <tr>
                  <td colSpan={7} class="empty">
                    No built templates yet: build one below.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      </Card>
      <Build onBuilt={built.reload} />
      <Card title="Base images">
        <ErrorBox error={images.error} />
        <div class="table-wrap">
          <table class="list" aria-label="Base images">
            <thead>
              <tr>
                <th>Name</th>
                <th>Size</th>
                <th class="wide">Created</th>
              </tr>
            </thead>
            <tbody>
              {(images.data?.templates ?? [])
                .filter((t) => t.kind === "rootfs")
                .map((t) => (
                  <tr key={t.name} data-name={t.name}>
                    <td class="mono">{t.name}</td>
                    <td class="num">{bytes(t.sizeBytes)}</td>
                    <td class="wide">{ago(t.createdAt)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </Card>
    </>
  );
}
