// The token saver's fidelity check: what must survive compression, read from a tool output, and
// whether it is still there afterwards. Four kinds of item:
//
//   error  every line that reports an error (compiler and linter errors, exceptions, assertion
//          failures, ERROR/FATAL log lines, panics) and, in a JSON document, every string that
//          mentions an error or a failure
//   path   every file path: in text, in `find`/`ls -l`/`ls -lR`/`tree` listings (rebuilt from the
//          listing's structure, and rebuilt the same way from the compressed output, where paths
//          are regrouped as `dir/{a,b}`, under `dir:` headers or as `rg --heading` groups)
//   line   every line number given with a path (`src/a.ts:41`, `a.ts(41,7)`, `File "a.py", line 41`),
//          found again in the output literally or in a grouped form (grep headings, "at lines …",
//          lint groups `  src/a.ts: 41:7, 60:3`)
//   test   every failing test's name (vitest/jest, pytest, go test, cargo test)
//
// Out of scope by design: paths and frames inside vendored or generated directories (node_modules,
// site-packages, target, …), which the compressors fold into a count; unchanged context lines of a
// diff; and lines that report a passing test, which test-output counts instead of listing.

export type Kind = "error" | "path" | "line" | "test";
export const KINDS: Kind[] = ["error", "path", "line", "test"];
export interface Item { kind: Kind; value: string; lint?: { file: string; pos: string; message: string; rule: string } }

const EXT = "ts|tsx|js|jsx|mjs|cjs|json|py|pyc|go|rs|c|h|cc|cpp|hpp|java|kt|rb|md|yml|yaml|toml|lock|sql|csv|snap|png|parquet|rlib|rmeta|d|o|txt|log|sh|css|html";
const PATH = new RegExp(String.raw`(?<![\w@./:\-])((?:\.{1,2}/|/)?(?:[\w@.\-]+/)*[\w@\-][\w@.\-]*\.[A-Za-z][A-Za-z0-9]{0,5})(?![\w/\-])`, "g");
const KNOWN_EXT = new RegExp(String.raw`\.(?:${EXT})\d*$`);
const HEAVY = /(?:^|\/)(?:node_modules|\.git|dist|build|target|__pycache__|\.venv|venv|site-packages|\.next|coverage|\.cargo|\.pytest_cache)(?:\/|$)|^\/usr\/|^node:/;
const LOCATED = [
  /((?:\.{1,2}\/|\/)?[\w@.\-/]+\.[A-Za-z][A-Za-z0-9]{0,5}):(\d+)/g,
  /((?:\.{1,2}\/|\/)?[\w@.\-/]+\.[A-Za-z][A-Za-z0-9]{0,5})\((\d+),/g,
  /File "([^"]+)", line (\d+)/g,
];
const TREE_GLYPH = /(?:├── |└── |\|-- |`-- )/;
const LS_ENTRY = /^[-dlcbps][-rwxsStT]{9}[.@+]?\s+\d+\s+\S+\s+\S+\s+\d+\s+\w{3}\s+\d+\s+[\d:]+\s+(.+)$/;

const isPath = (p: string) => (p.includes("/") || KNOWN_EXT.test(p)) && !HEAVY.test(p) && !/^\d/.test(p);

function pathsIn(line: string): string[] {
  return [...line.matchAll(PATH)].map((m) => m[1]!).filter(isPath);
}

function linesIn(line: string): string[] {
  const out: string[] = [];
  for (const re of LOCATED) for (const m of line.matchAll(re)) if (isPath(m[1]!)) out.push(`${m[1]}:${m[2]}`);
  return out;
}

/** Full paths of a `tree` listing, from the depth of each entry. */
function treePaths(lines: string[]): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of lines) {
    const m = TREE_GLYPH.exec(line);
    if (!m) continue;
    const depth = m.index / 4;
    const name = line.slice(m.index + 4).replace(/\s+\[….*$/, "").replace(/\/$/, "");
    stack.length = depth;
    stack.push(name);
    out.push(stack.join("/"));
  }
  return out;
}

/** Paths of `ls -l` / `ls -lR` entries (also in the compressed `name  size` form), under their `dir:` headers. */
function lsPaths(lines: string[], compressed: boolean): string[] {
  let dir = "";
  const out: string[] = [];
  for (const line of lines) {
    const header = /^(\S[^:]*):$/.exec(line);
    if (header) { dir = header[1]!; continue; }
    const m = LS_ENTRY.exec(line);
    let name = m?.[1];
    if (!name && compressed && line.trim() && !/^\[|^total /.test(line)) name = line.split(/ {2}/)[0]!.replace(/\/$/, "");
    if (!name || name === "." || name === "..") continue;
    out.push(dir ? `${dir}/${name}` : name);
  }
  return out;
}

const isTree = (lines: string[]) => lines.filter((l) => TREE_GLYPH.test(l)).length >= 5;
const isLs = (lines: string[]) => lines.filter((l) => LS_ENTRY.test(l)).length >= 5;

/** Diff lines whose content may be trimmed by design: unchanged context. */
function diffContext(lines: string[]): Set<number> {
  const skip = new Set<number>();
  let inHunk = false;
  lines.forEach((l, i) => {
    if (l.startsWith("diff --git ")) inHunk = false;
    else if (l.startsWith("@@")) inHunk = true;
    else if (inHunk && (l.startsWith(" ") || l === "")) skip.add(i);
  });
  return skip;
}

const ERROR_LINE = [
  /\berror(?:\[\w+\])?(?: TS\d+)?:/, /\b(?:[A-Z]\w*)?(?:Error|Exception)\b(?::|$)/, /\bERROR\b/, /\bFATAL\b|\bCRITICAL\b/, /^panic: /, /\bpanicked at\b/,
  /^\s*assertion\b.*\bfailed\b/, /^E\s{2,}\S/, /^\s+\w+_test\.go:\d+: /, /^\s*→ expected /,
];
const LINT = /^\s+(\d+:\d+)\s+error\s+(.+?)\s{2,}(@?[\w/-]+)\s*$/;
const FAILING = [
  /^\s*×\s+(.+?)(?:\s+\d+ms)?$/, /^\s*FAIL\s+(.+)$/, /^\s*✕\s+(.+?)(?:\s+\(\d+ m?s\))?$/, /^\s*●\s+(.+)$/,
  /^FAILED\s+(\S+)/, /^(\S+::\S+) FAILED/, /--- FAIL: (\S+)/, /^test (\S+) \.\.\. FAILED/,
];
const NOTABLE = /error|fail|exception|fatal|panic|denied|invalid/i;
/** A line that reports a passing test or a passing test file: test-output counts these instead of listing them. */
const PASSING = [/^\s*[✓✔√]\s/, /^\s*PASS\s+\S/, /^\S+::\S.*\sPASSED(?:\s+\[\s*\d+%\])?\s*$/, /^PASSED\s+\S+::/, /^\s*--- PASS: \S/, /^test \S.* \.\.\. ok\s*$/];

/** Everything in `text` that must survive compression. */
export function mustKeep(text: string): Item[] {
  const items = new Map<string, Item>();
  const add = (item: Item) => items.set(`${item.kind}\u0000${item.value}`, item);
  const trimmed = text.trim();
  if (/^[[{]/.test(trimmed)) {
    try {
      JSON.parse(trimmed);
      for (const m of trimmed.matchAll(/"(?:[^"\\]|\\.)*"/g)) {
        if (NOTABLE.test(m[0])) add({ kind: "error", value: m[0] });
        for (const p of pathsIn(m[0])) add({ kind: "path", value: p });
      }
      return [...items.values()];
    } catch {
      // not JSON after all
    }
  }
  const lines = text.split("\n");
  const structured = isTree(lines) ? treePaths(lines) : isLs(lines) ? lsPaths(lines, false) : undefined;
  if (structured) for (const p of structured) if (!HEAVY.test(p)) add({ kind: "path", value: p });
  const context = diffContext(lines);
  let file = "";
  lines.forEach((line, i) => {
    if (context.has(i) || structured || PASSING.some((re) => re.test(line))) return;
    if (/^\S.*\.\w+\s*$/.test(line) && !line.includes(" ")) file = line.trim();
    const grep = /^([^\s:]+):(\d+):/.exec(line);
    // A grep match's own text may be cut (past 10 matches of a file): only its path and line count.
    for (const p of grep ? [grep[1]!].filter(isPath) : pathsIn(line)) add({ kind: "path", value: p });
    for (const l of linesIn(line)) add({ kind: "line", value: l });
    const lint = LINT.exec(line);
    if (lint && file) add({ kind: "error", value: line.trim(), lint: { file, pos: lint[1]!, message: lint[2]!, rule: lint[3]! } });
    else if (ERROR_LINE.some((re) => re.test(line)) && !/^\s*warning\b/i.test(line)) add({ kind: "error", value: line.trim() });
    for (const re of FAILING) {
      const m = re.exec(line);
      if (m) add({ kind: "test", value: m[1]!.trim() });
    }
  });
  return [...items.values()];
}

/** Paths and path:line pairs readable from compressed output, its groupings undone. */
function readBack(output: string) {
  const lines = output.split("\n");
  const paths = new Set<string>();
  const located = new Set<string>();
  const addPath = (p: string) => paths.add(p);
  if (isTree(lines)) treePaths(lines).forEach(addPath);
  lsPaths(lines, true).forEach(addPath);
  let heading = "";
  for (const line of lines) {
    pathsIn(line).forEach(addPath);
    linesIn(line).forEach((l) => located.add(l));
    // `dir/{a,b,c}` (listing, git status): one path per name.
    for (const m of line.matchAll(/((?:\.{1,2}\/|\/)?[\w@.\-/]*)\{([^{}]+)\}/g)) for (const name of m[2]!.split(",")) addPath(`${m[1]}${name}`);
    // rg --heading groups: the path alone on a line, then `12:text` lines.
    if (/^\S+$/.test(line) && isPath(line) && pathsIn(line)[0] === line) heading = line;
    else if (line === "") heading = "";
    else if (heading) {
      const n = /^(\d+)[:-]/.exec(line);
      if (n) located.add(`${heading}:${n[1]}`);
    }
    const more = /^\[… \d+ more matches in (\S+), text omitted, at lines ([\d, ]+)\]$/.exec(line);
    if (more) for (const n of more[2]!.split(", ")) located.add(`${more[1]}:${n}`);
    // lint groups: `  src/a.ts: 41:7, 60:3 'name'`.
    const group = /^ {2}(\S+): (.+)$/.exec(line);
    if (group) for (const m of group[2]!.matchAll(/(?:^|, )(\d+):\d+/g)) located.add(`${group[1]}:${m[1]}`);
  }
  return { paths, located };
}

const blankQuotes = (s: string) => s.replace(/`[^`]*`|'[^']*'|"[^"]*"/g, "_");

/** A linter error folded into a rule group: its file, position, rule and message all readable. */
function lintSurvives(lint: NonNullable<Item["lint"]>, output: string): boolean {
  const lines = output.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`[${lint.rule}: `));
  if (start < 0) return false;
  const example = /, e\.g\. (.*)\]$/.exec(lines[start]!)?.[1] ?? "";
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith("  ")) end++;
  const fileLine = lines.slice(start + 1, end).find((l) => l.startsWith(`  ${lint.file}: `));
  if (!fileLine) return false;
  const at = fileLine.split(/, (?=\d+:\d+)/).map((s) => s.replace(/^ {2}\S+: /, "")).find((s) => s.startsWith(`${lint.pos} `) || s === lint.pos);
  if (at === undefined) return false;
  const shown = at.slice(lint.pos.length).trim();
  if (shown === lint.message) return true;
  if (shown === "") return example === lint.message;
  return blankQuotes(example) === blankQuotes(lint.message) && (lint.message.match(/`[^`]*`|'[^']*'|"[^"]*"/g) ?? []).join(" ") === shown;
}

/** The items of `items` that `output` lost. */
export function lost(items: Item[], output: string): Item[] {
  const back = readBack(output);
  return items.filter((item) => {
    switch (item.kind) {
      case "path":
        return !back.paths.has(item.value) && !new RegExp(`(?<![\\w@./-])${item.value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w/-])`).test(output);
      case "line":
        return !back.located.has(item.value);
      case "error":
        return !output.includes(item.value) && !(item.lint && lintSurvives(item.lint, output));
      case "test":
        return !output.includes(item.value);
    }
  });
}
