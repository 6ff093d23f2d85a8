// The public API, called with the signed-in key (X-API-Key).  The key lives in sessionStorage
// only (gone with the tab; never in a URL).
const KEY_SLOT = "wrenn.apiKey";

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export function getKey(): string | null {
  return sessionStorage.getItem(KEY_SLOT);
}
export function setKey(k: string | null): void {
  if (k) sessionStorage.setItem(KEY_SLOT, k);
  else sessionStorage.removeItem(KEY_SLOT);
}

type Listener = () => void;
const unauthorized: Listener[] = [];
/** Called when the API answers 401 with the stored key (revoked): back to sign-in. */
export function onUnauthorized(f: Listener): void {
  unauthorized.push(f);
}

export interface CallOpts {
  method?: string;
  body?: unknown; // JSON-encoded unless a Blob/ArrayBuffer
  key?: string; // override (sign-in check)
  signal?: AbortSignal;
  raw?: boolean; // return the Response
  contentType?: string;
}

async function errorOf(r: Response): Promise<ApiError> {
  let msg = `${r.status} ${r.statusText}`;
  try {
    const t = await r.text();
    try {
      const j = JSON.parse(t);
      if (j && typeof j.message === "string") msg = j.message;
    } catch {
      if (t) msg = t.slice(0, 300);
    }
  } catch {
    /* keep the status line */
  }
  return new ApiError(r.status, msg);
}

export async function call<T = unknown>(path: string, o: CallOpts = {}): Promise<T> {
  const key = o.key ?? getKey();
  const headers: Record<string, string> = {};
  if (key) headers["X-API-Key"] = key;
  let body: BodyInit | undefined;
  if (o.body instanceof Blob || o.body instanceof ArrayBuffer) {
    body = o.body;
    headers["Content-Type"] = o.contentType ?? "application/octet-stream";
  } else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers["Content-Type"] = "application/json";
  }
  let r: Response;
  try {
    r = await fetch(path, { method: o.method ?? "GET", headers, body, signal: o.signal });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "cannot reach the agent: " + (e as Error).message);
  }
  if (!r.ok) {
    const err = await errorOf(r);
    if (r.status === 401 && !o.key) unauthorized.forEach((f) => f());
    throw err;
  }
  if (o.raw) return r as unknown as T;
  if (r.status === 204) return undefined as T;
  const ct = r.headers.get("Content-Type") ?? "";
  if (ct.includes("json")) return (await r.json()) as T;
  return (await r.text()) as unknown as T;
}

export const enc = encodeURIComponent;

// --- shapes (docs/openapi.yaml) ---------------------------------------------------------------
export interface Sandbox {
  id: string;
  template: string;
  state: string;
  vcpus: number;
  memoryMB: number;
  startedAt: string;
  endAt?: string | null;
  metadata?: Record<string, string>;
  allowInternetAccess?: boolean;
  envdVersion?: string;
  error?: string;
}
export interface Template {
  name: string;
  kind: string;
  parent?: string;
  sizeBytes?: number;
  createdAt: string;
}
/** A template built from a Dockerfile or the E2B SDK (E2B's GET /templates). */
export interface BuiltTemplate {
  templateID: string;
  buildID?: string;
  cpuCount?: number;
  memoryMB?: number;
  aliases?: string[];
  names?: string[];
  createdAt?: string;
  updatedAt?: string;
  lastSpawnedAt?: string | null;
  spawnCount?: number;
  buildCount?: number;
  buildStatus?: string;
}
/** What a create can start from: base images (rootfs) and built templates, by name. */
export async function templateChoices(signal?: AbortSignal): Promise<{ name: string; label: string }[]> {
  const [v1, built] = await Promise.all([
    call<{ templates: Template[] }>("/v1/templates", { signal }),
    call<BuiltTemplate[]>("/templates", { signal }),
  ]);
  const out = v1.templates.filter((t) => t.kind === "rootfs").map((t) => ({ name: t.name, label: `${t.name} (image)` }));
  for (const b of built)
    if (b.buildStatus === "ready") out.push({ name: b.aliases?.[0] ?? b.templateID, label: `${b.aliases?.[0] ?? b.templateID} (built)` });
  return out;
}

export interface Snapshot {
  id: string;
  name?: string;
  sandboxId?: string;
  template?: string;
  sizeBytes?: number;
  createdAt: string;
}
export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsed?: string | null;
  team?: string;
}
export interface Team {
  name: string;
  [k: string]: unknown;
}
export interface Entry {
  name: string;
  path: string;
  type: string;
  size?: number;
  permissions?: string;
  modifiedTime?: string;
  symlinkTarget?: string;
}
export interface Metric {
  timestampUnix: number;
  cpuUsedPct: number;
  cpuCount?: number;
  memUsed: number;
  memTotal: number;
  diskUsed: number;
  diskTotal: number;
}
export interface BuildInfo {
  templateID: string;
  buildID: string;
  status: string;
  logEntries: { timestamp: string; level: string; message: string; step?: string }[];
  reason?: { message?: string; step?: string };
}
