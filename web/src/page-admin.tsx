// Keys and teams (operator keys only: a team key gets 403, shown as such).
import { useState } from "preact/hooks";
import { type ApiKey, call, enc, type Team } from "./api";
import { Action, ago, Card, ErrorBox, errText, usePoll } from "./ui";

function NewKey(props: { teams: Team[]; onDone: () => void }) {
  const [name, setName] = useState("");
  const [team, setTeam] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    setCreated(null);
    try {
      const k = await call<{ key: string }>("/v1/keys", { method: "POST", body: { name, team } });
      setCreated(k.key);
      setName("");
      props.onDone();
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form" onSubmit={submit}>
      <div class="row">
        <label>
          Name
          <input value={name} maxLength={64} name="keyname" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Team (empty = operator key; a new name makes the team)
          <input list="teams" value={team} name="team" onInput={(e) => setTeam((e.target as HTMLInputElement).value)} />
          <datalist id="teams">
            {props.teams.map((t) => (
              <option value={t.name} key={t.name} />
            ))}
          </datalist>
        </label>
      </div>
      <ErrorBox error={err} />
      {created ? (
        <p class="notice" role="status">
          New key (shown once, copy it now): <code class="mono select">{created}</code>
        </p>
      ) : null}
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Creating…" : "Create key"}
        </button>
      </div>
    </form>
  );
}

export function AdminPage() {
  const keys = usePoll((signal) => call<{ keys: ApiKey[] }>("/v1/keys", { signal }), 0, []);
  const teams = usePoll((signal) => call<{ teams: Team[] }>("/v1/teams", { signal }), 0, []);
  const reload = () => {
    keys.reload();
    teams.reload();
  };
  const teamCols = teams.data?.teams?.length ? Object.keys(teams.data.teams[0]).filter((k) => k !== "name") : [];
  return (
    <>
      <div class="page-head">
        <h1>Keys &amp; teams</h1>
      </div>
      <Card title="API keys">
        <ErrorBox error={keys.error} />
        {keys.data ? (
          <>
            <div class="table-wrap">
              <table class="list" aria-label="API keys">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Prefix</th>
                    <th>Team</th>
                    <th class="wide">Created</th>
                    <th>Last used</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {keys.data.keys.map((k) => (
                    <tr key={k.id}>
                      <td>{k.name}</td>
                      <td class="mono">{k.prefix}…</td>
                      <td>{k.team || <em>operator</em>}</td>
                      <td class="wide">{ago(k.createdAt)}</td>
                      <td>{k.lastUsed ? ago(k.lastUsed) : "never"}</td>
                      <td>
                        <Action
                          label="Revoke"
                          kind="danger"
                          confirm={`Revoke key ${k.name || k.prefix}? Clients using it get 401.`}
                          run={() => call(`/v1/keys/${enc(k.id)}`, { method: "DELETE" })}
                          onDone={reload}
                        />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <NewKey teams={teams.data?.teams ?? []} onDone={reload} />
          </>
        ) : null}
      </Card>
      <Card title="Teams">
        <ErrorBox error={teams.error} />
        {teams.data ? (
          <div class="table-wrap">
            <table class="list" aria-label="Teams">
              <thead>
                <tr>
                  <th>Name</th>
                  {teamCols.map((c) => (
                    <th key={c}>{c}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {teams.data.teams.map((t) => (
                  <tr key={t.name}>
                    <td>{t.name}</td>
                    {teamCols.map((c) => (
                      <td key={c}>{String(t[c] ?? "")}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </Card>
    </>
  );
}
