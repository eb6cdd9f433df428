import { textCompressor } from "./text.ts";

// grep -n / ripgrep results (`path:line:text`, `path:line:col:text`, context lines
// `path-line-text`, `--` separators). Grouped by file the way `rg --heading` prints them: the
// path once, then `line:text`. Very long matched lines (minified code) are cut around the match;
// each file keeps its first matches and counts the rest. Every kept match keeps its path and line
// number. Compiler and linter diagnostics (`file:12:5: error: …`) share the shape but are not
// grep results: those are left alone, since every diagnostic matters.

const MAX_CHARS = 4_000_000;
const MAX_LINES = 200_000;
const MAX_MATCHES_PER_FILE = 10;
const MAX_LINE = 240;
const KEEP_AROUND = 100;
const MIN_MATCHES = 3;

const MATCH = /^([^\s:]+):(\d+):(.*)$/;
const SEPARATOR = /^--$/;
/** What follows `path:line[:col]:` in a compiler or linter diagnostic. */
const DIAGNOSTIC = /^(?:\d+:)?\s?(?:fatal error|error|warning|note|info|hint|[A-Z]{1,3}\d{3,4})\b[:\s[]/i;
const INFER_SAMPLE = 200;
const INFER_TOKENS = 40;

/** A file path: has a directory or an extension, and is not a timestamp (`2024-05-01T12:00:00`). */
const looksLikePath = (path: string) => /\/|\.[A-Za-z]/.test(path) && !/^\d{4}-\d{2}-\d{2}/.test(path) && !/^\d+$/.test(path);

type Entry = { kind: "match" | "context"; path: string; line: string; rest: string } | { kind: "sep"; path: string } | { kind: "other"; text: string };

/** The word most matched lines share: most likely what was searched for. */
function inferAnchor(rests: string[]): string | undefined {
  const sample = rests.slice(0, INFER_SAMPLE);
  if (sample.length === 0) return undefined;
  const tokens = [...new Set((sample[0]!.slice(0, 2000).match(/[A-Za-z_$][\w$.-]{2,}/g) ?? []))].slice(0, INFER_TOKENS);
  let best: string | undefined;
  let bestCount = 0;
  for (const token of tokens) {
    let count = 0;
    for (const rest of sample) if (rest.includes(token)) count++;
    if (count > bestCount || (count === bestCount && best !== undefined && token.length > best.length)) {
      best = token;
      bestCount = count;
    }
  }
  return bestCount >= sample.length * 0.5 ? best : undefined;
}

function trim(rest: string, anchor: string | undefined): string {
  if (rest.length <= MAX_LINE) return rest;
  const at = anchor ? rest.indexOf(anchor) : -1;
  if (at < 0) return `${rest.slice(0, MAX_LINE - 40)}[… ${rest.length - (MAX_LINE - 40)} chars]`;
  const start = Math.max(0, at - KEEP_AROUND);
  const end = Math.min(rest.length, at + anchor!.length + KEEP_AROUND);
  return `${start > 0 ? `[… ${start} chars]` : ""}${rest.slice(start, end)}${end < rest.length ? `[… ${rest.length - end} chars]` : ""}`;
}

export function compressGrep(text: string): string | undefined {
  if (text.length > MAX_CHARS) return undefined;
  const normalized = text.replace(/\r\n/g, "\n");
  const trailingNewline = normalized.endsWith("\n");
  const lines = (trailingNewline ? normalized.slice(0, -1) : normalized).split("\n");
  if (lines.length > MAX_LINES) return undefined;

  // First pass: the match lines, and the paths they name.
  const paths = new Set<string>();
  const matched: Array<RegExpExecArray | null> = lines.map((line) => {
    const m = MATCH.exec(line);
    if (!m || !looksLikePath(m[1]!)) return null;
    return m;
  });
  let matches = 0;
  for (const m of matched) {
    if (!m) continue;
    if (DIAGNOSTIC.test(m[3]!)) return undefined;
    paths.add(m[1]!);
    matches++;
  }
  if (matches < MIN_MATCHES) return undefined;

  // Second pass: context lines (`path-12-text`) of a known path, separators, and the rest.
  const entries: Entry[] = [];
  let lastPath = "";
  let unknown = 0;
  let nonblank = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() !== "") nonblank++;
    const m = matched[i];
    if (m) {
      lastPath = m[1]!;
      entries.push({ kind: "match", path: m[1]!, line: m[2]!, rest: m[3]! });
      continue;
    }
    if (SEPARATOR.test(line)) {
      entries.push({ kind: "sep", path: lastPath });
      continue;
    }
    let context: Entry | undefined;
    const limit = Math.min(line.length, 1024);
    for (let k = line.indexOf("-"); k > 0 && k < limit; k = line.indexOf("-", k + 1)) {
      const path = line.slice(0, k);
      if (!paths.has(path)) continue;
      const c = /^(\d+)-/.exec(line.slice(k + 1, k + 12));
      if (c) context = { kind: "context", path, line: c[1]!, rest: line.slice(k + 2 + c[1]!.length) };
      break;
    }
    if (context) {
      lastPath = (context as { path: string }).path;
      entries.push(context);
      continue;
    }
    if (line.trim() !== "") unknown++;
    entries.push({ kind: "other", text: line });
  }
  if (unknown > nonblank * 0.1) return undefined;

  const anchor = inferAnchor(entries.flatMap((e) => (e.kind === "match" ? [e.rest] : [])));

  // Group by file, in order of first appearance; other lines stay where they were.
  type Group = { path: string; lines: string[]; shown: number; dropped: number; droppedLines: Array<string | number> };
  const units: Array<Group | string> = [];
  const groups = new Map<string, Group>();
  for (const e of entries) {
    if (e.kind === "other") {
      if (e.text.trim() !== "") units.push(e.text);
      continue;
    }
    let group = groups.get(e.path);
    if (!group) {
      group = { path: e.path, lines: [], shown: 0, dropped: 0, droppedLines: [] };
      groups.set(e.path, group);
      units.push(group);
    }
    if (group.shown >= MAX_MATCHES_PER_FILE) {
      // The text of further matches goes; their line numbers stay (every path:line is kept).
      if (e.kind === "match") {
        group.dropped++;
        group.droppedLines.push(e.line);
      }
      continue;
    }
    if (e.kind === "sep") {
      if (group.lines.length > 0 && group.lines.at(-1) !== "--") group.lines.push("--");
      continue;
    }
    if (e.kind === "match") group.shown++;
    group.lines.push(`${e.line}${e.kind === "match" ? ":" : "-"}${trim(e.rest, anchor)}`);
  }

  const out: string[] = [];
  for (const unit of units) {
    if (typeof unit === "string") {
      out.push(unit);
      continue;
    }
    while (unit.lines.at(-1) === "--") unit.lines.pop();
    if (out.length > 0 && out.at(-1) !== "") out.push("");
    out.push(unit.path, ...unit.lines);
    if (unit.dropped > 0) out.push(`[… ${unit.dropped} more matches in ${unit.path}, text omitted, at lines ${unit.droppedLines.join(", ")}]`);
  }
  const result = out.join("\n");
  return trailingNewline ? `${result}\n` : result;
}

export default textCompressor("grep", ["tool-results"], compressGrep);
