import { textCompressor } from "./text.ts";

// Compiler output (tsc, rustc/cargo, go build, gcc/clang, javac): identical diagnostics are
// deduplicated, notes and "help" chatter are cut to their first line, a warning repeated many
// times (same code or message) is kept once with a count and the list of its locations, and
// every `file:line:col: error …` line stays.

const MAX_LINES = 200_000;
const WARNING_KEEP = 2; // warnings of one kind shown in full before the rest are folded

// The first line of one diagnostic. Groups: 1 = location (if any), 2 = severity, 3 = rest.
const HEADERS: RegExp[] = [
  /^(\S[^()\n]*\(\d+,\d+\)): (error|warning) (TS\d+: .*)$/, // tsc
  /^(\S[^\n]*?:\d+:\d+) - (error|warning) (TS\d+: .*)$/, // tsc --pretty
  /^(\S[^\s:]*:\d+(?::\d+)?): (fatal error|error|warning|note): (.*)$/, // gcc, clang, javac, go vet
  /^(\S[^\s:]*\.go:\d+(?::\d+)?): ()(.*)$/, // go build
  /^()(error|warning)(?:\[[A-Z]\d{4}\])?: (.*)$/, // rustc (location on a following "-->" line)
];
const RUST_LOCATION = /^\s*--> (\S+:\d+:\d+)\s*$/;
const NOTE = /^\s*(?:= )?(?:note|help|hint)(?:\[\w+\])?:|^(\S[^\s:]*:\d+(?::\d+)?): note: |^\S.*: note: (?:candidate|in instantiation|expanded from|previous|declared here|'?\w+'? declared)/;

interface Block { header: string; location: string; severity: string; key: string; lines: string[] }

function header(line: string): RegExpExecArray | undefined {
  if (line.length > 2000) return undefined;
  for (const re of HEADERS) {
    const m = re.exec(line);
    if (m) return m;
  }
  return undefined;
}

/** What makes two warnings "the same kind": their code, else their message with names blanked. */
function kindOf(severity: string, rest: string, lines: string[]): string {
  const code = /^(TS\d+):/.exec(rest)?.[1] ?? /\[(-W[\w-]+|[A-Z]\d{4}|[\w-]+)\]\s*$/.exec(rest)?.[1]
    ?? lines.map((l) => /#\[(?:warn|deny)\(([\w:]+)\)\]/.exec(l)?.[1]).find((x) => x);
  return `${severity}:${code ?? rest.replace(/`[^`]*`|'[^']*'|"[^"]*"|‘[^’]*’|\d+/g, "_")}`;
}

/** Keep a block's header, location and code frame; cut every note/help after the first to nothing. */
function trim(lines: string[]): { lines: string[]; dropped: number } {
  const out: string[] = [];
  let notes = 0;
  let dropped = 0;
  let dropping = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (i > 0 && NOTE.test(line)) {
      notes++;
      dropping = notes > 1;
      if (!dropping) { out.push(line); continue; }
      dropped++;
      continue;
    }
    if (dropping) {
      // A note's continuation: indented lines or a code frame under it.
      if (line.trim() !== "" && !/^\s*\|?\s*$/.test(line)) { dropped++; continue; }
      dropping = false;
    }
    out.push(line);
  }
  while (out.length > 1 && /^\s*\|?\s*$/.test(out.at(-1)!) && lines.length > out.length) out.pop();
  return { lines: out, dropped };
}

export function compressBuildErrors(text: string): string | undefined {
  const lines = text.split("\n");
  if (lines.length < 3 || lines.length > MAX_LINES) return undefined;
  // Split into preamble/other lines and diagnostic blocks.
  const items: Array<string | Block> = [];
  let current: Block | undefined;
  let located = 0;
  for (const line of lines) {
    const m = header(line);
    // A gcc/clang note is part of the diagnostic before it, not a new one.
    if (m && !(m[2] === "note" && current)) {
      current = { header: line, location: m[1]!, severity: m[2] || "error", key: "", lines: [line] };
      if (m[1]) located++;
      items.push(current);
      continue;
    }
    const tscFrame = current !== undefined && / - (?:error|warning) TS\d+:/.test(current.header) && /^\d+\s/.test(line);
    if (current && (line === "" || /^\s/.test(line) || NOTE.test(line) || /^\d+ \|/.test(line) || tscFrame)) {
      if (line === "" && current.lines.at(-1) === "") { items.push(line); current = undefined; continue; }
      current.lines.push(line);
      const loc = RUST_LOCATION.exec(line);
      if (loc && !current.location) { current.location = loc[1]!; located++; }
      continue;
    }
    current = undefined;
    items.push(line);
  }
  if (located === 0) return undefined;
  for (const item of items) {
    if (typeof item === "string") continue;
    const m = header(item.header)!;
    item.key = kindOf(item.severity, m[3]!, item.lines);
  }
  const warningCounts = new Map<string, number>();
  for (const item of items) if (typeof item !== "string" && item.severity === "warning") warningCounts.set(item.key, (warningCounts.get(item.key) ?? 0) + 1);

  const out: string[] = [];
  const seen = new Map<string, { index: number; count: number }>();
  const folded = new Map<string, { index: number; locations: string[] }>();
  const warningsShown = new Map<string, number>();
  let changed = false;
  for (const item of items) {
    if (typeof item === "string") { out.push(item); continue; }
    // Blank lines that close a block are layout, not content.
    const body = item.lines.join("\n").replace(/\n+$/, "");
    const trailing = item.lines.length - body.split("\n").length;
    const dup = seen.get(body);
    if (dup) {
      dup.count++;
      out[dup.index] = `${item.header}  [×${dup.count}]`;
      changed = true;
      continue;
    }
    if (item.severity === "warning" && (warningCounts.get(item.key) ?? 0) > WARNING_KEEP + 1) {
      const shown = warningsShown.get(item.key) ?? 0;
      if (shown >= WARNING_KEEP) {
        const f = folded.get(item.key);
        const location = item.location || item.header;
        if (f) f.locations.push(location);
        else { folded.set(item.key, { index: out.length, locations: [location] }); out.push(""); }
        seen.set(body, { index: out.length - 1, count: 1 });
        changed = true;
        continue;
      }
      warningsShown.set(item.key, shown + 1);
    }
    const { lines: kept, dropped } = trim(body.split("\n"));
    if (dropped > 0) { kept.push(`  [… ${dropped} line${dropped === 1 ? "" : "s"} of notes omitted]`); changed = true; }
    const firstIndex = out.length;
    out.push(kept[0]!);
    seen.set(body, { index: firstIndex, count: 1 });
    out.push(...kept.slice(1));
    for (let t = 0; t < trailing; t++) out.push("");
  }
  for (const [key, f] of folded) {
    const n = f.locations.length;
    const sample = f.locations.slice(0, 40);
    out[f.index] = `[… ${n} more warning${n === 1 ? "" : "s"} like the above (${key.replace(/^warning:/, "")}) at: ${sample.join(", ")}${n > sample.length ? `, and ${n - sample.length} more` : ""}]`;
  }
  if (!changed) return undefined;
  return out.join("\n");
}

export default textCompressor("build-errors", ["tool-results"], compressBuildErrors);
