// The PTY API (POST /v1/sandboxes/{id}/pty, docs/openapi.yaml) over a WebSocket: a browser can
// only upgrade to websocket, so the agent also accepts `Upgrade: websocket` with the subprotocol
// "wrenn-pty".  The WebSocket's binary messages carry the same byte stream as `wrenn-pty`
// (frames of type:1, length:4 BE, payload).  Browsers cannot set X-API-Key on a WebSocket: the
// key travels as a second offered subprotocol "wrenn-key.<key>" (a header, never the URL).
export const IN = 0x00,
  RESIZE = 0x01,
  SIGNAL = 0x02,
  OUT = 0x00,
  EXIT = 0x03,
  ERROR = 0x04;

export function frame(type: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(5 + payload.length);
  b[0] = type;
  new DataView(b.buffer).setUint32(1, payload.length);
  b.set(payload, 5);
  return b;
}

/** Splits the incoming byte stream into frames. */
export class FrameReader {
  private buf = new Uint8Array(0);
  push(chunk: Uint8Array, on: (type: number, payload: Uint8Array) => void): void {
    const nb = new Uint8Array(this.buf.length + chunk.length);
    nb.set(this.buf);
    nb.set(chunk, this.buf.length);
    let off = 0;
    while (nb.length - off >= 5) {
      const n = new DataView(nb.buffer, nb.byteOffset + off + 1, 4).getUint32(0);
      if (nb.length - off - 5 < n) break;
      on(nb[off], nb.subarray(off + 5, off + 5 + n));
      off += 5 + n;
    }
    this.buf = nb.slice(off);
  }
}

export interface PtyHandlers {
  output: (data: Uint8Array) => void;
  exit: (code: number) => void;
  error: (msg: string) => void;
  open: () => void;
  closed: (clean: boolean) => void; // clean = after EXIT/ERROR or close()
}

export class PtySession {
  private ws: WebSocket;
  private reader = new FrameReader();
  private ended = false;
  private enc = new TextEncoder();

  constructor(id: string, key: string, cols: number, rows: number, h: PtyHandlers) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${location.host}/v1/sandboxes/${encodeURIComponent(id)}/pty?cols=${cols}&rows=${rows}`;
    this.ws = new WebSocket(url, ["wrenn-pty", "wrenn-key." + key]);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => h.open();
    this.ws.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer)) return;
      this.reader.push(new Uint8Array(ev.data), (t, p) => {
        if (t === OUT) h.output(p);
        else if (t === EXIT && p.length >= 4) {
          this.ended = true;
          h.exit(new DataView(p.buffer, p.byteOffset, 4).getInt32(0));
        } else if (t === ERROR) {
          this.ended = true;
          h.error(new TextDecoder().decode(p));
        }
      });
    };
    this.ws.onclose = () => h.closed(this.ended);
  }
  private send(b: Uint8Array<ArrayBuffer>) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(b);
  }
  input(s: string): void {
    this.send(frame(IN, this.enc.encode(s)));
  }
  resize(cols: number, rows: number): void {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint16(0, cols);
    new DataView(p.buffer).setUint16(2, rows);
    this.send(frame(RESIZE, p));
  }
  signal(n: number): void {
    this.send(frame(SIGNAL, new Uint8Array([n])));
  }
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
  close(): void {
    this.ended = true;
    this.ws.close();
  }
}
