// A minimal ustar writer: the build context of a Dockerfile build (POST /v1/templates/{name}/builds
// takes the context as a tar).
const te = new TextEncoder();

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, "0") + "\0";
}

function header(name: string, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number) => h.set(te.encode(s), off);
  const nb = te.encode(name);
  if (nb.length > 100) throw new Error(`file name too long for the build context: ${name}`);
  h.set(nb, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  put(octal(size, 12), 124);
  put(octal(mtime, 12), 136);
  put("        ", 148); // checksum placeholder
  h[156] = "0".charCodeAt(0);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + " ", 148);
  return h;
}

export function tar(files: { name: string; data: Uint8Array }[]): Blob {
  const parts: BlobPart[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (const f of files) {
    parts.push(header(f.name, f.data.length, now) as BlobPart, f.data as BlobPart);
    const pad = (512 - (f.data.length % 512)) % 512;
    if (pad) parts.push(new Uint8Array(pad) as BlobPart);
  }
  parts.push(new Uint8Array(1024) as BlobPart);
  return new Blob(parts, { type: "application/x-tar" });
}
