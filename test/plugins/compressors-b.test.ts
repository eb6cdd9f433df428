import { describe, expect, test } from "vitest";
import type { IR } from "../../core/plugins/hooks.ts";
import grep, { compressGrep } from "../../plugins/compressors/grep.ts";
import json, { compressJson } from "../../plugins/compressors/json.ts";
import listing, { compressListing } from "../../plugins/compressors/listing.ts";
import logDedupe, { compressLog } from "../../plugins/compressors/log-dedupe.ts";
import whitespace, { compressWhitespace } from "../../plugins/compressors/whitespace.ts";

// The listing, grep, json, log-dedupe and whitespace compressors on realistic tool output: each
// saves, keeps what matters (errors, paths, line numbers, keys), is deterministic, and leaves
// text that is not its kind alone.

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

const savings = (name: string, before: string, after: string) => {
  const pct = ((1 - after.length / before.length) * 100).toFixed(1);
  console.log(`[compressors-b] ${name}: ${before.length} → ${after.length} chars (${pct}% saved)`);
  return Number(pct);
};

const PROSE = `The gateway routes each request to the first healthy target. When an upstream fails, it
retries the next one, and records what happened. Nothing here is a listing, a log or JSON.

It is just a couple of paragraphs of ordinary text, written the way a person writes.`;
const CODE = `import os\n\n\ndef main():\n    for name in os.listdir("."):\n        print(name)\n\n\nif __name__ == "__main__":\n    main()\n`;
const NOT_JSON = `{"items": [1, 2, 3], "next": }`;

function toolRequest(text: string): IR.Request {
  return {
    model: "m", system: [], tools: [], stream: false, extra: {},
    messages: [
      { role: "user", content: [{ type: "text", text: "look at this" }] },
      { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "shell", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", content: [{ type: "text", text }] }] },
    ],
  };
}
const ctx = { request: "req-1", model: "m" };
const resultText = (request: IR.Request) => {
  const part = request.messages.at(-1)!.content[0] as IR.ToolResultPart;
  return (part.content[0] as IR.TextPart).text;
};

// ---- inputs --------------------------------------------------------------------------------

const lsLine = (type: string, size: number, name: string) =>
  `${type === "d" ? "drwxr-xr-x" : "-rw-r--r--"}  ${type === "d" ? 4 : 1} dev  staff  ${String(size).padStart(6)} Mar 14 09:2${size % 10} ${name}`;
const LS = [
  "total 1984",
  lsLine("d", 4096, "."), lsLine("d", 4096, ".."),
  ...["node_modules", "src", "test", "dist", ".git", "docs", "scripts"].map((n) => lsLine("d", 4096, n)),
  ...[".editorconfig", ".gitignore", ".prettierrc", "README.md", "LICENSE", "package.json", "package-lock.json", "tsconfig.json",
    "vitest.config.ts", "eslint.config.js", "CHANGELOG.md", "Dockerfile", ".dockerignore", "bun.lockb", "index.ts", "cli.ts",
    "CONTRIBUTING.md", "SECURITY.md", "renovate.json", ".nvmrc"].map((n, i) => lsLine("-", 100 + i * 337, n)),
  "lrwxr-xr-x   1 dev  staff      12 Mar 14 09:20 latest -> dist/v1.2.3",
].join("\n");

const FIND = (() => {
  const out = [".", "./package.json", "./README.md", "./src", "./node_modules"];
  for (let p = 0; p < 60; p++) {
    out.push(`./node_modules/pkg-${p}`);
    for (let f = 0; f < 20; f++) out.push(`./node_modules/pkg-${p}/lib/file-${f}.js`);
  }
  for (let d = 0; d < 20; d++) {
    out.push(`./src/module-${d}`);
    for (let f = 0; f < 15; f++) out.push(`./src/module-${d}/component-${f}.tsx`);
  }
  out.push("./.git");
  for (let i = 0; out.length < 2000; i++) out.push(`./.git/objects/${(i * 2654435761 % 0xffffff).toString(16).padStart(6, "0")}`);
  return out.join("\n");
})();

const TREE = [
  ".",
  "├── package.json",
  "├── node_modules",
  ...Array.from({ length: 80 }, (_, i) => `│   ${i === 79 ? "└" : "├"}── dep-${i}`),
  "├── src",
  ...Array.from({ length: 12 }, (_, i) => `│   ${i === 11 ? "└" : "├"}── file-${i}.ts`),
  "└── README.md",
  "",
  "83 directories, 15 files",
].join("\n");

const RG = (() => {
  const out: string[] = [];
  for (let f = 0; f < 40; f++) {
    const path = `src/features/feature-${f}/handler.ts`;
    const n = f % 5 === 0 ? 25 : 3;
    for (let m = 0; m < n; m++) out.push(`${path}:${10 + m * 7}:    const result = await fetchUser(id, { retries: ${m} });`);
  }
  out.push(`dist/bundle.min.js:1:${"var a=1;".repeat(300)}fetchUser(x)${";b=2".repeat(300)}`);
  return out.join("\n");
})();

const JSON_ARRAY = JSON.stringify({
  page: 1,
  total: 500,
  items: Array.from({ length: 500 }, (_, i) => ({
    id: `9007199254740993${String(i).padStart(3, "0")}`, name: `user-${i}`, email: `user${i}@example.com`,
    active: i % 3 !== 0, score: i === 250 ? 1.5 : i * 0.25, tags: ["a", "b"],
    status: i === 250 ? "failed: quota exceeded" : "ok",
  })),
}, null, 2).replace('"score": 0,', '"score": 0.0,').replace('"page": 1', '"page": 1e0');

const LOG = (() => {
  const out: string[] = [];
  const ts = (i: number) => `2024-05-01T12:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}.${String(i * 7 % 1000).padStart(3, "0")}Z`;
  for (let i = 0; i < 1000; i++) {
    if (i === 400) out.push(`${ts(i)} ERROR db: connection refused (host=10.0.0.5 port=5432) at pool.ts:88`);
    if (i === 400) out.push(`${ts(i)} ERROR db: connection refused (host=10.0.0.5 port=5432) at pool.ts:88`);
    if (i === 700) out.push(`${ts(i)} WARN cache: eviction storm, 1200 keys dropped`);
    if (i === 900) out.push(`${ts(i)} FATAL worker-3 crashed: RangeError: Maximum call stack size exceeded`, "    at recurse (src/worker.ts:41:9)", "    at recurse (src/worker.ts:41:9)", "    at run (src/worker.ts:12:3)");
    if (i < 300) out.push(`${ts(i)} INFO http: GET /api/users/${1000 + i} 200 ${i % 40}ms req=${(i * 48271).toString(16).padStart(8, "0")}`);
    else if (i < 310) out.push(`${ts(i)} INFO http: GET /api/users/${1000 + i} 500 ${i % 40}ms req=${(i * 48271).toString(16).padStart(8, "0")}`);
    else if (i < 800) out.push(`${ts(i)} DEBUG scheduler: tick ${i} queue=0 workers=4`);
    else out.push(`${ts(i)} INFO heartbeat ok`);
  }
  return out.join("\n");
})();

const MESSY = [
  "Build finished.   ", "\r", "", "", "", "", "Output:\t\t", "\t\t", "",
  "```python", "def f(x):   ", "    if x:", "", "", "", "", "        return 1", "    return 0", "```", "", "", "", "",
  "config.yaml:", "server:", "  port: 8080   ", "  hosts:", "    - a", "    - b", "", "", "", "", "", "done  ",
].join("\r\n");

// ---- tests ---------------------------------------------------------------------------------

describe("listing", () => {
  test("ls -la of a JS project: names and sizes stay, columns go", () => {
    const out = compressListing(LS)!;
    expect(savings("listing (ls -la)", LS, out)).toBeGreaterThan(40);
    for (const name of ["node_modules/", "src/", "package.json  1785", "README.md  1111", ".nvmrc  6503", "latest -> dist/v1.2.3"]) expect(out).toContain(name);
    expect(out).not.toContain("drwxr-xr-x");
  });

  test("find . of 2 000 paths: node_modules and .git collapse with counts, directories group their files", () => {
    expect(FIND.split("\n")).toHaveLength(2000);
    const out = compressListing(FIND)!;
    expect(savings("listing (find)", FIND, out)).toBeGreaterThan(80);
    expect(out).toContain("./node_modules/  [… 1260 more paths under node_modules/ omitted]");
    expect(out).toMatch(/\.\/\.git\/ {2}\[… \d+ more paths under \.git\/ omitted\]/);
    expect(out).toContain("./{package.json,README.md}");
    for (let d = 0; d < 20; d++) {
      const group = out.split("\n").find((l) => l.startsWith(`./src/module-${d}/{`))!;
      for (let f = 0; f < 15; f++) expect(group).toContain(`component-${f}.tsx`);
    }
  });

  test("a directory of 120 files keeps every name in its group (no names dropped past a cap)", () => {
    const paths = range(120).map((i) => `./migrations/versions/${String(i + 1).padStart(4, "0")}_add_table_${i}.py`);
    const out = compressListing(paths.join("\n"))!;
    const group = /^\.\/migrations\/versions\/\{(.*)\}$/.exec(out)!;
    expect(group[1]!.split(",").map((name) => `./migrations/versions/${name}`)).toEqual(paths);
    expect(out).not.toContain("omitted");
  });

  test("tree: node_modules collapses into one line", () => {
    const out = compressListing(TREE)!;
    savings("listing (tree)", TREE, out);
    expect(out).toContain("├── node_modules  [… 80 entries under node_modules/ omitted]");
    expect(out).toContain("│   └── file-11.ts");
    expect(out).toContain("83 directories, 15 files");
  });

  test("deterministic; not a listing → undefined", () => {
    expect(compressListing(FIND)).toBe(compressListing(FIND));
    expect(compressListing(PROSE)).toBeUndefined();
    expect(compressListing(CODE)).toBeUndefined();
    expect(compressListing(RG)).toBeUndefined();
    expect(compressListing(LOG)).toBeUndefined();
  });
});

describe("grep", () => {
  test("rg over 40 files: grouped by file, capped per file, long lines cut around the match", () => {
    const out = compressGrep(RG)!;
    expect(savings("grep", RG, out)).toBeGreaterThan(30);
    const lines = out.split("\n");
    for (let f = 0; f < 40; f++) {
      const path = `src/features/feature-${f}/handler.ts`;
      const at = lines.indexOf(path);
      expect(at).toBeGreaterThanOrEqual(0);
      const kept = Math.min(f % 5 === 0 ? 25 : 3, 10);
      for (let m = 0; m < kept; m++) expect(lines[at + 1 + m]).toBe(`${10 + m * 7}:    const result = await fetchUser(id, { retries: ${m} });`);
      // Past the cap the text goes, but every line number stays (fidelity: every path:line kept).
      const rest = Array.from({ length: 15 }, (_, i) => 10 + (i + 10) * 7).join(", ");
      if (f % 5 === 0) expect(lines[at + 11]).toBe(`[… 15 more matches in ${path}, text omitted, at lines ${rest}]`);
    }
    const minified = lines[lines.indexOf("dist/bundle.min.js") + 1]!;
    expect(minified.startsWith("1:[… ")).toBe(true);
    expect(minified).toContain("fetchUser(x)");
    expect(minified.length).toBeLessThan(300);
  });

  test("compiler diagnostics of the same shape are not grep results", () => {
    const tsc = Array.from({ length: 6 }, (_, i) => `src/a.c:${i + 1}:5: error: expected ';' before '}' token`).join("\n");
    expect(compressGrep(tsc)).toBeUndefined();
  });

  test("deterministic; not grep output → undefined", () => {
    expect(compressGrep(RG)).toBe(compressGrep(RG));
    expect(compressGrep(PROSE)).toBeUndefined();
    expect(compressGrep(CODE)).toBeUndefined();
    expect(compressGrep(FIND)).toBeUndefined();
    expect(compressGrep(LOG)).toBeUndefined();
  });
});

describe("json", () => {
  test("a 500-item array: minified, first 3 + last 1 kept, a failing item kept, numbers exact", () => {
    const out = compressJson(JSON_ARRAY)!;
    expect(savings("json", JSON_ARRAY, out)).toBeGreaterThan(90);
    expect(() => JSON.parse(out)).not.toThrow();
    const parsed = JSON.parse(out) as { items: Array<Record<string, unknown>> };
    const ids = [0, 1, 2, 250, 499].map((i) => `9007199254740993${String(i).padStart(3, "0")}`);
    for (const id of ids) expect(out).toContain(`"id":"${id}"`);
    expect(out).toContain('{"…":"247 more items with the same keys"}');
    expect(out).toContain('{"…":"248 more items with the same keys"}');
    expect(out).toContain('"score":0.0,');
    expect(out).toContain('"page":1e0');
    expect(out).toContain('"status":"failed: quota exceeded"');
    for (const item of parsed.items.filter((i) => !("…" in i))) {
      expect(Object.keys(item).sort()).toEqual(["active", "email", "id", "name", "score", "status", "tags"]);
    }
  });

  test("an array of items that name files keeps every item: a list of files is what was asked for", () => {
    const files = range(30).map((i) => ({ filename: `packages/api/src/routes/route-${i}.ts`, status: "modified", additions: i, blob_url: `https://github.com/o/r/blob/abc/packages/api/src/routes/route-${i}.ts` }));
    const out = compressJson(JSON.stringify(files, null, 2))!;
    for (let i = 0; i < 30; i++) expect(out).toContain(`"packages/api/src/routes/route-${i}.ts"`);
    expect(out).not.toContain("more items");
    // A URL is not a file path: items that only hold URLs still fold.
    const urls = range(30).map((i) => ({ url: `https://example.com/a/b-${i}.html`, n: i }));
    expect(compressJson(JSON.stringify(urls, null, 2))).toContain("more items with the same keys");
  });

  test("deterministic; invalid JSON, prose and code → undefined", () => {
    expect(compressJson(JSON_ARRAY)).toBe(compressJson(JSON_ARRAY));
    expect(compressJson(NOT_JSON)).toBeUndefined();
    expect(compressJson(PROSE)).toBeUndefined();
    expect(compressJson(CODE)).toBeUndefined();
    expect(compressJson('"just a string"')).toBeUndefined();
    expect(compressJson('{"a":1}')).toBeUndefined();
  });
});

describe("log-dedupe", () => {
  test("a server log of 1 000 repetitive lines: runs collapse, every error and warning stays", () => {
    const out = compressLog(LOG)!;
    expect(savings("log-dedupe", LOG, out)).toBeGreaterThan(90);
    for (const line of LOG.split("\n")) {
      if (/ERROR|WARN|FATAL|src\/worker\.ts/.test(line)) expect(out).toContain(line);
    }
    expect(out).toMatch(/ERROR db: connection refused \(host=10\.0\.0\.5 port=5432\) at pool\.ts:88 {2}\[×2\]/);
    expect(out).toContain("    at recurse (src/worker.ts:41:9)  [×2]");
    expect(out).toContain("    at run (src/worker.ts:12:3)");
    // A 500 is not hidden behind the run of 200s.
    expect(out).toMatch(/GET \/api\/users\/1000 200 0ms req=00000000 {2}\[×300 similar\]/);
    expect(out).toMatch(/GET \/api\/users\/1300 500 .* {2}\[×10 similar\]/);
  });

  test("lines that differ only in the file they name are not folded together: every path stays", () => {
    const log = range(40).map((i) => `2026-11-23T10:00:${String(i).padStart(2, "0")}Z INFO writer: wrote /data/out/batch-${String(i).padStart(4, "0")}.parquet (${1000 + i} rows)`);
    log.push(...range(20).map((i) => `2026-11-23T10:01:${String(i).padStart(2, "0")}Z INFO http: GET /healthz 200 ${i}ms`));
    const out = compressLog(log.join("\n"))!;
    for (let i = 0; i < 40; i++) expect(out).toContain(`/data/out/batch-${String(i).padStart(4, "0")}.parquet`);
    // Lines without a path still fold.
    expect(out).toContain("GET /healthz 200 0ms  [×20 similar]");
  });

  test("deterministic; not a log → undefined", () => {
    expect(compressLog(LOG)).toBe(compressLog(LOG));
    expect(compressLog(PROSE)).toBeUndefined();
    expect(compressLog(CODE)).toBeUndefined();
    expect(compressLog(FIND)).toBeUndefined();
  });
});

describe("whitespace", () => {
  test("messy whitespace: CRLF, trailing spaces, blank runs go; indentation and code blocks stay", () => {
    const out = compressWhitespace(MESSY)!;
    savings("whitespace", MESSY, out);
    expect(out).not.toContain("\r");
    expect(out).not.toMatch(/[ \t]+$/m);
    expect(out).not.toMatch(/\n{4}(?![\s\S]*```)/); // no more than 2 blank lines outside the fence
    expect(out).toContain("```python\ndef f(x):\n    if x:\n\n\n\n\n        return 1\n    return 0\n```");
    expect(out).toContain("server:\n  port: 8080\n  hosts:\n    - a\n    - b");
    expect(out).toContain("Build finished.\n\n\nOutput:");
  });

  test("deterministic; clean text, code and diffs → undefined", () => {
    expect(compressWhitespace(MESSY)).toBe(compressWhitespace(MESSY));
    expect(compressWhitespace(PROSE)).toBeUndefined();
    expect(compressWhitespace(CODE)).toBeUndefined();
    expect(compressWhitespace("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n \n-a  \n+a\n")).toBeUndefined();
  });
});

describe("through the plugin interface", () => {
  const cases = [
    { plugin: listing, name: "listing", input: FIND },
    { plugin: grep, name: "grep", input: RG },
    { plugin: json, name: "json", input: JSON_ARRAY },
    { plugin: logDedupe, name: "log-dedupe", input: LOG },
    { plugin: whitespace, name: "whitespace", input: MESSY },
  ];
  for (const { plugin, name, input } of cases) {
    test(`${name} compresses the newest tool result, touches nothing else`, async () => {
      expect(plugin.hook).toBe("compressor");
      expect(plugin.name).toBe(name);
      expect(plugin.touches).toEqual(["tool-results"]);
      const request = toolRequest(input);
      const out = (await plugin.compress(request, ctx)) as IR.Request;
      expect(out).toBeDefined();
      expect(resultText(out).length).toBeLessThan(input.length);
      expect(out.messages.slice(0, 2)).toEqual(request.messages.slice(0, 2));
      expect(await plugin.compress(toolRequest(PROSE), ctx)).toBeUndefined();
    });
  }
});
