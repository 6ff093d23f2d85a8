// wrenn dashboard: sign-in, navigation and the hash router (#/sandboxes, #/sandboxes/ID, ...).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { call, getKey, onUnauthorized, setKey } from "./api";
import { AdminPage } from "./page-admin";
import { SandboxPage } from "./page-sandbox";
import { SandboxesPage } from "./page-sandboxes";
import { SnapshotsPage } from "./page-snapshots";
import { TemplatesPage } from "./page-templates";
import { errText } from "./ui";

function useRoute(): string[] {
  const parse = () =>
    (location.hash.replace(/^#\/?/, "") || "sandboxes").split("/").map(decodeURIComponent);
  const [r, setR] = useState(parse());
  useEffect(() => {
    const f = () => setR(parse());
    window.addEventListener("hashchange", f);
    return () => window.removeEventListener("hashchange", f);
  }, []);
  return r;
}

function SignIn(props: { onIn: () => void; note?: string }) {
  const [key, setK] = useState("");
  const [err, setErr] = useState<string | null>(props.note ?? null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const k = key.trim();
    setBusy(true);
    setErr(null);
    try {
      await call("/v1/sandboxes?limit=1", { key: k });
      setKey(k);
      props.onIn();
    } catch (x) {
      setErr(errText(x));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">
          <img src="favicon.svg" alt="" width={28} height={28} /> wrenn
        </h1>
        <label for="apikey">API key</label>
        <input
          id="apikey"
          name="apikey"
          type="password"
          autocomplete="off"
          placeholder="e2b_…"
          value={key}
          onInput={(e) => setK((e.target as HTMLInputElement).value)}
          aria-invalid={err ? true : undefined}
          aria-describedby={err ? "signin-error" : undefined}
          required
          autofocus
        />
        {err ? (
          <p id="signin-error" class="error" role="alert">
            {err}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p class="hint">
          The key stays in this tab's session storage and is sent only to this agent. The first
          operator key is in the agent's data directory (admin-key).
        </p>
      </form>
    </main>
  );
}

const NAV: [string, string][] = [
  ["sandboxes", "Sandboxes"],
  ["templates", "Templates"],
  ["snapshots", "Snapshots"],
  ["admin", "Keys & teams"],
];

function App() {
  const [signedIn, setSignedIn] = useState(!!getKey());
  const [note, setNote] = useState<string | undefined>(undefined);
  const route = useRoute();
  useEffect(
    () =>
      onUnauthorized(() => {
        setKey(null);
        setNote("The API key was refused (revoked?): sign in again.");
        setSignedIn(false);
      }),
    [],
  );
  if (!signedIn) return <SignIn onIn={() => setSignedIn(true)} note={note} />;
  const [page, id] = route;
  let body;
  if (page === "sandboxes" && id) body = <SandboxPage id={id} tab={route[2]} />;
  else if (page === "sandboxes") body = <SandboxesPage />;
  else if (page === "templates") body = <TemplatesPage />;
  else if (page === "snapshots") body = <SnapshotsPage />;
  else if (page === "admin") body = <AdminPage />;
  else body = <p class="error">No page {page}.</p>;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/sandboxes">
          <img src="favicon.svg" alt="" width={22} height={22} /> wrenn
        </a>
        <nav aria-label="Main">
          {NAV.map(([p, label]) => (
            <a href={"#/" + p} aria-current={page === p ? "page" : undefined} key={p}>
              {label}
            </a>
          ))}
        </nav>
        <button
          type="button"
          class="signout"
          onClick={() => {
            setKey(null);
            setNote(undefined);
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {body}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
