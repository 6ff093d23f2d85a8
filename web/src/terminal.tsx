// xterm.js over the PTY session: input, paste and Ctrl-C go through xterm's onData (^C is a byte
// on the line), resize follows the element (fit addon), and a connection lost without the shell
// exiting is reconnected with backoff (a new shell: the agent ends a PTY whose client went away).
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "preact/hooks";
import { getKey } from "./api";
import { PtySession } from "./pty";

type Status = "connecting" | "connected" | "reconnecting" | "exited" | "error";

export function TerminalView(props: { id: string; running: boolean }) {
  const el = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<Status>("connecting");
  const [note, setNote] = useState("");
  const [size, setSize] = useState("");
  const restart = useRef<() => void>(() => {});
  useEffect(() => {
    if (!props.running || !el.current) return;
    const scheme = matchMedia("(prefers-color-scheme: dark)");
    const themeOf = (dark: boolean) =>
      dark
        ? { background: "#0d1117", foreground: "#e6edf3" }
        : { background: "#ffffff", foreground: "#1f2328", cursor: "#1f2328", selectionBackground: "#b6d7ff" };
    const term = new Terminal({
      cursorBlink: true,
      fontSize: 14,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace",
      scrollback: 5000,
      theme: themeOf(scheme.matches),
    });
    const onScheme = () => (term.options.theme = themeOf(scheme.matches));
    scheme.addEventListener("change", onScheme);
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el.current);
    (window as unknown as { wrennTerm?: Terminal }).wrennTerm = term; // read by the browser test
    let sess: PtySession | null = null;
    let stopped = false;
    let tries = 0;
    let timer: number | undefined;
    const connect = () => {
      clearTimeout(timer);
      sess?.close();
      setStatus(tries ? "reconnecting" : "connecting");
      const s = new PtySession(props.id, getKey() ?? "", term.cols, term.rows, {
        open: () => {
          tries = 0;
          setStatus("connected");
          setNote("");
          s.resize(term.cols, term.rows);
        },
        output: (d) => term.write(d),
        exit: (code) => {
          setStatus("exited");
          setNote(`shell exited with code ${code}`);
          term.write(`\r\n\x1b[2m[shell exited with code ${code}]\x1b[0m\r\n`);
        },
        error: (m) => {
          setStatus("error");
          setNote(m);
        },
        closed: (clean) => {
          if (stopped || s !== sess || clean) return;
          const wait = Math.min(8000, 500 * 2 ** tries++);
          setStatus("reconnecting");
          setNote(`connection lost; reconnecting in ${(wait / 1000).toFixed(1)} s`);
          term.write("\r\n\x1b[2m[connection lost: reconnecting]\x1b[0m\r\n");
          timer = window.setTimeout(connect, wait);
        },
      });
      sess = s;
    };
    restart.current = () => {
      tries = 0;
      connect();
    };
    term.onData((d) => sess?.input(d));
    term.onResize(({ cols, rows }) => {
      setSize(`${cols}×${rows}`);
      sess?.resize(cols, rows);
    });
    const ro = new ResizeObserver(() => {
      try {
        fit.fit();
      } catch {
        /* hidden */
      }
    });
    ro.observe(el.current);
    fit.fit();
    setSize(`${term.cols}×${term.rows}`);
    const online = () => {
      if (sess && !sess.open) restart.current();
    };
    window.addEventListener("online", online);
    connect();
    term.focus();
    return () => {
      stopped = true;
      clearTimeout(timer);
      window.removeEventListener("online", online);
      scheme.removeEventListener("change", onScheme);
      ro.disconnect();
      sess?.close();
      term.dispose();
    };
  }, [props.id, props.running]);
  if (!props.running) return <p class="hint">The terminal needs a running sandbox.</p>;
  return (
    <div class="terminal-box">
      <div class="term-bar">
        <span class={"dot " + status} aria-hidden="true" />
        <span role="status" class="term-status" data-status={status}>
          {status}
          {note ? ": " + note : ""}
        </span>
        <span class="term-size">{size}</span>
        <button type="button" onClick={() => restart.current()} disabled={status === "connected"}>
          Reconnect
        </button>
      </div>
      <div class="terminal" ref={el} aria-label="Terminal" />
    </div>
  );
}
