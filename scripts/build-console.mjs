// Builds the console (console/) into dist/console/: one JS bundle (Preact, graphql-ws's client and
// the generated operations) and one stylesheet, content-hashed so the server may let browsers keep
// them, and index.html naming them. Type-checking is `tsc -p console/tsconfig.json` (esbuild only strips types).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = path.join(ROOT, "console");
const OUT = path.join(ROOT, "dist", "console");

fs.rmSync(OUT, { recursive: true, force: true });
const result = await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: { app: path.join(SOURCE, "src", "main.tsx"), styles: path.join(SOURCE, "src", "styles.css") },
  outdir: path.join(OUT, "assets"),
  entryNames: "[name]-[hash]",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  sourcemap: "linked",
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

// The emitted names, by entry point.
const emitted = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  emitted[path.basename(meta.entryPoint)] = path.relative(OUT, path.join(ROOT, file)).split(path.sep).join("/");
}
const js = emitted["main.tsx"];
const css = emitted["styles.css"];
if (!js || !css) throw new Error(`build-console: missing outputs in ${JSON.stringify(emitted)}`);
const html = fs.readFileSync(path.join(SOURCE, "index.html"), "utf8").replace("{{js}}", js).replace("{{css}}", css);
fs.writeFileSync(path.join(OUT, "index.html"), html);
const bytes = (name) => fs.statSync(path.join(OUT, name)).size;
console.error(`console: dist/console/${js} (${(bytes(js) / 1024).toFixed(1)} KiB), ${css} (${(bytes(css) / 1024).toFixed(1)} KiB)`);
