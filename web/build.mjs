// Bundle the dashboard into the directory given as the only argument (make web).
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUTDIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const common = { bundle: true, minify: true, logLevel: "warning", legalComments: "none" };
await esbuild.build({
  ...common,
  entryPoints: [join(here, "src/main.tsx")],
  outfile: join(out, "app.js"),
  format: "iife",
  target: "es2020",
  jsx: "automatic",
  jsxImportSource: "preact",
});
await esbuild.build({
  ...common,
  entryPoints: [join(here, "src/app.css")],
  outfile: join(out, "app.css"),
});
copyFileSync(join(here, "index.html"), join(out, "index.html"));
copyFileSync(join(here, "favicon.svg"), join(out, "favicon.svg"));
