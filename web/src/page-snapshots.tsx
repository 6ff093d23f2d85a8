// Snapshots: list, start a sandbox from one, delete.
import { call, enc, type Sandbox, type Snapshot } from "./api";
import { Action, ago, bytes, Card, ErrorBox, usePoll } from "./ui";

export function SnapshotsPage() {
  const list = usePoll((signal) => call<{ snapshots: Snapshot[] }>("/v1/snapshots", { signal }), 10000, []);
  const rows = list.data?.snapshots ?? [];
  return (
    <>
      <div class="page-head">
        <h1>Snapshots</h1>
      </div>
      <Card>
        <ErrorBox error={list.error} />
        <div class="table-wrap">
          <table class="list" aria-label="Snapshots">
            <thead>
              <tr>
                <th>ID</th>
                <th>Name</th>
                <th>Sandbox</th>
                <th>Template</th>
                <th>Size</th>
                <th class="wide">Created</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.id} data-id={s.id}>
                  <td class="mono">{s.id}</td>
                  <td>{s.name ?? ""}</td>
                  <td class="mono">{s.sandboxId ? <a href={`#/sandboxes/${enc(s.sandboxId)}`}>{s.sandboxId}</a> : ""}</td>
                  <td>{s.template ?? ""}</td>
                  <td class="num">{bytes(s.sizeBytes)}</td>
                  <td class="wide">{ago(s.createdAt)}</td>
                  <td>
                    <div class="actions">
                      <Action
                        label="Start sandbox"
                        busyLabel="Starting…"
                        run={async () => {
                          const sb = await call<Sandbox>("/v1/sandboxes", { method: "POST", body: { template: s.name || s.id } });
                          location.hash = `#/sandboxes/${enc(sb.id)}`;
                        }}
                      />
                      <Action
                        label="Delete"
                        kind="danger"
                        confirm={`Delete snapshot ${s.name || s.id}?`}
                        run={() => call(`/v1/snapshots/${enc(s.id)}`, { method: "DELETE" })}
                        onDone={list.reload}
                      />
                    </div>
                  </td>
                </tr>
              ))}
              {!rows.length && !list.loading ? (
                <tr>
                  <td colSpan={7} class="empty">
                    No snapshots. Take one from a sandbox's page.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      </Card>
    </>
  );
}
