// Token-saver benchmark: `bun run bench:saver`.
//
// Runs every built-in compressor over a corpus of realistic agent tool outputs that this script
// generates deterministically (a seeded generator, so the corpus is the same on every run and
// machine): long git diffs with a lockfile, test runs with many passing and a few failing tests,
// compiler and lint output, stack traces through node_modules, directory listings, grep results,
// big JSON arrays, repetitive server logs. Prints, per compressor, the input tokens (o200k, the
// gateway's own tokenizer) before and after and the savings, then the whole corpus through all
// compressors in order; and a fidelity check: every line that names an error, a failing test or
// a file:line in the input must still be there afterwards. A benchmark: it always exits 0.

import { textTokens } from "../core/tokens/count.ts";
import type { CompressorPlugin, IR } from "../core/plugins/hooks.ts";
import { builtinCompressors } from "../plugins/compressors/index.ts";

let seed = 20261123;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
const words = ["user", "order", "cart", "session", "token", "price", "item", "route", "cache", "queue"];
const file = (ext = "ts") => `src/${pick(words)}/${pick(words)}-${pick(words)}.${ext}`;

function gitDiff(): string {
  const parts: string[] = [];
  for (let f = 0; f < 8; f++) {
    const path = file();
    parts.push(`diff --git a/${path} b/${path}`, `index 3f2a1b9..8c7d6e5 100644`, `--- a/${path}`, `+++ b/${path}`);
    for (let h = 0; h < 3; h++) {
      const at = 10 + h * 60;
      parts.push(`@@ -${at},40 +${at},41 @@ export function ${pick(words)}()`);
      for (let i = 0; i < 18; i++) parts.push(`   const ${pick(words)}${i} = ${pick(words)}.${pick(words)}(${i});`);
      parts.push(`-  return ${pick(words)};`, `+  return ${pick(words)} ?? null;`, `+  // handle the empty ${pick(words)}`);
      for (let i = 0; i < 18; i++) parts.push(`   ${pick(words)}.${pick(words)}();`);
    }
  }
  parts.push("diff --git a/package-lock.json b/package-lock.json", "index 1111111..2222222 100644", "--- a/package-lock.json", "+++ b/package-lock.json", "@@ -1,400 +1,420 @@");
  for (let i = 0; i < 400; i++) parts.push(`+      "node_modules/${pick(words)}-${i}": { "version": "1.${i}.0", "resolved": "https://registry.npmjs.org/${pick(words)}/-/${pick(words)}-1.${i}.0.tgz" },`);
  return parts.join("\n");
}

function testRun(): string {
  const lines = [" RUN  v4.1.12 /repo", ""];
  for (let i = 0; i < 240; i++) lines.push(` ✓ ${file("test.ts")} > ${pick(words)} ${pick(words)} works ${i} ${Math.floor(random() * 40)}ms`);
  for (let i = 0; i < 3; i++) {
    lines.push(` × ${file("test.ts")} > ${pick(words)} rejects bad ${pick(words)} ${i}`, `   → expected 200 to be 400 // Object.is equality`);
  }
  lines.push("", " FAIL  src/cart/cart-price.test.ts > cart rejects bad price 0", "AssertionError: expected 200 to be 400 // Object.is equality",
    " ❯ src/cart/cart-price.test.ts:41:23", " ❯ node_modules/vitest/dist/chunk-runner.js:1201:15", "",
    " Test Files  1 failed | 39 passed (40)", "      Tests  3 failed | 240 passed (243)");
  return lines.join("\n");
}

function tscErrors(): string {
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) {
    const code = pick(["TS2322", "TS2345", "TS2339", "TS7006"]);
    lines.push(`${file()}(${10 + i},${5 + (i % 20)}): error ${code}: Type 'string | undefined' is not assignable to type 'string'.`);
    lines.push("  Type 'undefined' is not assignable to type 'string'.");
  }
  lines.push("", "Found 60 errors in 24 files.");
  return lines.join("\n");
}

function lintRun(): string {
  const lines: string[] = [];
  for (let f = 0; f < 30; f++) {
    lines.push("", `/repo/${file()}`);
    for (let i = 0; i < 6; i++) lines.push(`  ${10 + i * 7}:${3 + i}  ${pick(["warning", "error"])}  '${pick(words)}' is defined but never used  @typescript-eslint/no-unused-vars`);
  }
  lines.push("", "✖ 180 problems (90 errors, 90 warnings)");
  return lines.join("\n");
}

function stackTrace(): string {
  const lines = ["TypeError: Cannot read properties of undefined (reading 'price')", `    at total (/repo/${file("js")}:42:17)`];
  for (let i = 0; i < 40; i++) lines.push(`    at ${pick(words)} (/repo/node_modules/${pick(["express", "fastify", "@nestjs/core"])}/lib/${pick(words)}.js:${100 + i}:${i + 3})`);
  lines.push("    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)");
  return Array.from({ length: 3 }, () => lines.join("\n")).join("\n\n");
}

function listing(): string {
  const lines = ["total 1432"];
  for (let i = 0; i < 600; i++) lines.push(`-rw-r--r--  1 dev  staff  ${Math.floor(random() * 9000)} Nov 23 10:${String(i % 60).padStart(2, "0")} node_modules/${pick(words)}/${pick(words)}-${i}.js`);
  for (let i = 0; i < 40; i++) lines.push(`-rw-r--r--  1 dev  staff  ${Math.floor(random() * 9000)} Nov 23 10:00 ${file()}`);
  return lines.join("\n");
}

function grepRun(): string {
  const lines: string[] = [];
  for (let f = 0; f < 40; f++) {
    const path = file();
    for (let i = 0; i < 12; i++) lines.push(`${path}:${10 + i * 9}:    const ${pick(words)} = await fetchPrice(${pick(words)}, { retries: ${i} }); // ${"x".repeat(120)}`);
  }
  return lines.join("\n");
}

function bigJson(): string {
  return JSON.stringify({ items: Array.from({ length: 500 }, (_, i) => ({ id: i, sku: `SKU-${1000 + i}`, name: `${pick(words)} ${pick(words)}`, price: Math.round(random() * 10000) / 100, tags: [pick(words), pick(words)] })) }, null, 2);
}

function serverLog(): string {
  const lines: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const ts = `2026-11-23T10:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}.${String(i % 1000).padStart(3, "0")}Z`;
    lines.push(i % 250 === 0 ? `${ts} ERROR db: connection reset by peer (pool ${i % 7})` : `${ts} INFO http: GET /health 200 ${1 + (i % 3)}ms`);
  }
  return lines.join("\n");
}

const CORPUS: Array<[string, string]> = [
  ["git diff + lockfile", gitDiff()], ["vitest run", testRun()], ["tsc errors", tscErrors()], ["eslint", lintRun()],
  ["node stack traces", stackTrace()], ["ls -la", listing()], ["rg results", grepRun()], ["JSON array", bigJson()], ["server log", serverLog()],
];

/**
 * What must survive compression, taken from the input: every file path with its line number
 * (`src/a.ts:41`, `src/a.ts(41,7)`), every error message (`error TS2322: …`, `TypeError: …`,
 * `ERROR …`), every failing test name (`× …`, `FAIL …`). A path's line may be printed apart from
 * the path (grep output grouped by file), so paths and line numbers are checked separately.
 */
function mustKeep(text: string): string[] {
  const keep = new Set<string>();
  for (const line of text.split("\n")) {
    for (const m of line.matchAll(/([\w@./-]+\.(?:ts|js|py|go|rs|java))(?::(\d+)|\((\d+),)/g)) {
      if (/node_modules|node:internal/.test(m[1]!)) continue; // library frames may be collapsed
      keep.add(m[1]!);
      keep.add(m[2] ?? m[3]!);
    }
    const error = /(?:error TS\d+|[A-Z]\w*Error|ERROR)[: ]+(.+)$/.exec(line);
    if (error) keep.add(error[1]!.trim());
    const failing = /^\s*(?:×|FAIL)\s+(.+)$/.exec(line);
    if (failing) keep.add(failing[1]!.trim());
  }
  return [...keep];
}

function asRequest(text: string): IR.Request {
  return {
    model: "m", system: [], tools: [], stream: false, extra: {},
    messages: [
      { role: "user", content: [{ type: "text", text: "what is wrong?" }] },
      { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "run", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", content: [{ type: "text", text }] }] },
    ],
  };
}
const resultText = (request: IR.Request) => {
  const part = request.messages.at(-1)!.content[0]!;
  return part.type === "tool-result" && part.content[0]!.type === "text" ? part.content[0]!.text : "";
};

async function run(compressors: CompressorPlugin[], text: string): Promise<string> {
  let request = asRequest(text);
  for (const c of compressors) request = (await c.compress(request, { request: "bench", model: "m" })) ?? request;
  return resultText(request);
}

const pct = (before: number, after: number) => `${(100 * (1 - after / before)).toFixed(1)} %`;

console.log(`Token-saver benchmark: ${builtinCompressors.length} compressors over ${CORPUS.length} agent tool outputs (o200k tokens)\n`);
console.log(`${"compressor".padEnd(14)} ${"inputs changed".padStart(14)} ${"tokens before".padStart(14)} ${"after".padStart(8)} ${"saved".padStart(8)}`);
for (const compressor of builtinCompressors) {
  let before = 0;
  let after = 0;
  let changed = 0;
  for (const [, text] of CORPUS) {
    const out = await run([compressor], text);
    if (out !== text) {
      changed++;
      before += textTokens(text);
      after += textTokens(out);
    }
  }
  console.log(`${compressor.name.padEnd(14)} ${String(changed).padStart(14)} ${String(before).padStart(14)} ${String(after).padStart(8)} ${before ? pct(before, after).padStart(8) : "       –"}`);
}

console.log(`\nall compressors in order, per input:\n`);
let totalBefore = 0;
let totalAfter = 0;
let lost = 0;
for (const [name, text] of CORPUS) {
  const out = await run(builtinCompressors, text);
  const before = textTokens(text);
  const after = textTokens(out);
  totalBefore += before;
  totalAfter += after;
  const keep = mustKeep(text);
  const missing = keep.filter((item) => (/^\d+$/.test(item) ? !new RegExp(`(?<![\\d.])${item}(?!\\d)`).test(out) : !out.includes(item)));
  lost += missing.length;
  console.log(`  ${name.padEnd(20)} ${String(before).padStart(7)} → ${String(after).padStart(7)} tokens (${pct(before, after).padStart(7)})   fidelity: ${missing.length === 0 ? `✓ all ${keep.length} paths, lines, errors and failing tests kept` : `✗ ${missing.length} of ${keep.length} lost, e.g. ${JSON.stringify(missing[0]!.slice(0, 80))}`}`);
}
console.log(`\noverall: ${totalBefore} → ${totalAfter} input tokens, ${pct(totalBefore, totalAfter)} saved; paths, lines, errors or failing tests lost: ${lost}`);
