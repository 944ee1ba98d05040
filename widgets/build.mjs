// Bundles each entry point of src/ into ../static/ (minified, with a size report).
// An entry that imports a .css file gets ../static/<name>.css next to its .js.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { readFileSync, readdirSync, existsSync } from "node:fs";

const entries = ["widget", "room", "host", "store", "stats", "docs", "guide", "leaderboard", "report"]
  .map((name) => `src/${name}.js`)
  .filter((path) => existsSync(path));

await build({
  entryPoints: entries,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2019", "chrome80", "safari13"],
  outdir: "../static",
  entryNames: "[name]",
  logLevel: "warning",
});

for (const file of readdirSync("../static").filter((f) => /\.(js|css)$/.test(f))) {
  const raw = readFileSync(`../static/${file}`);
  console.log(`static/${file}: ${raw.length} bytes, ${gzipSync(raw).length} gzipped`);
}
