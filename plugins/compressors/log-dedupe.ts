import { textCompressor } from "./text.ts";

// Log output: runs of identical lines collapse to `line  [×N]`; runs of log lines that differ only
// in timestamps, ids and numbers collapse to their first line, verbatim, with `[×N similar]`.
// Lines that report a problem (ERROR, WARN, FATAL, Exception, panic, …), lines that are not log
// records themselves (stack frames, continuation lines) and lines naming a file and line number
// are only ever collapsed with exact repeats of themselves, so none of them is lost.

const MAX_CHARS = 8_000_000;
const MAX_LINES = 500_000;
const MIN_LINES = 10;

/** A log record starts with a timestamp, or has a level near its start. */
const TIMESTAMP = /^\s*(?:\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\[?\d{2}:\d{2}:\d{2}|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|\[?\d{10}(?:\d{3})?(?:\.\d+)?\b|\d{1,3}(?:\.\d{1,3}){3} .{0,60}\[\d{2}\/[A-Z][a-z]{2}\/\d{4}:)/;
const LEVEL = /^.{0,60}?(?:\b|_)(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|FATAL|CRITICAL|level=\w+)\b/;
const IMPORTANT = /\b(?:err|error|errors|warn|warning|fatal|critical|crit|severe|alert|emerg)\b|exception|panic|traceback|fail|denied|refused|timeout|timed out/i;
/** A file and line number (`app.py:12`, `line 12`) must stay exact. */
const LOCATION = /\.[A-Za-z]\w{0,9}:\d+|\bline \d+/;

/**
 * A file path with a directory and an extension: `/data/out/batch-0012.parquet`, `src/app.ts`.
 * A match may only start where a path can (not inside a word or another path): unanchored, a
 * long run of `a/a/a/…` was tried from every character, quadratic (a 20 KB line took 0.65 s).
 */
const FILE_PATH = /(?<![\w@./-])(?:\.{1,2}\/|\/)?(?:[\w@.-]+\/)+[\w@-][\w@.-]*\.[A-Za-z]\w{0,9}\b/g;
/** Lines longer than this are only ever collapsed with exact repeats (no pattern work on them). */
const LONG_LINE = 4096;

/**
 * What a line looks like with its timestamps, ids and numbers blanked out. File paths are kept
 * as they are: lines naming different files are not "similar", so no path is lost in a run.
 */
function normalise(line: string): string {
  if (line.length > LONG_LINE) return `\u0002${line}`;
  const paths = line.match(FILE_PATH);
  return blank(paths ? line.replace(FILE_PATH, "\u0001") : line) + (paths ? `\u0000${paths.join("\u0000")}` : "");
}

function blank(line: string): string {
  return line
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "#")
    .replace(/\b(?=[0-9a-f]*\d)[0-9a-f]{6,}\b/gi, "#")
    // An HTTP-status-like number keeps its class, so a 500 never hides behind a run of 200s.
    .replace(/(^|[\s"])([1-5])\d\d(?=[\s"]|$)/g, (_, pre: string, d: string) => `${pre}<http-${"abcde"[Number(d) - 1]}xx>`)
    .replace(/\d+/g, "0");
}

const isRecord = (line: string) => TIMESTAMP.test(line) || LEVEL.test(line.slice(0, 80));

export function compressLog(text: string): string | undefined {
  if (text.length > MAX_CHARS) return undefined;
  const normalized = text.replace(/\r\n/g, "\n");
  const trailingNewline = normalized.endsWith("\n");
  const lines = (trailingNewline ? normalized.slice(0, -1) : normalized).split("\n");
  if (lines.length > MAX_LINES) return undefined;
  let nonblank = 0;
  let records = 0;
  const record = lines.map((line) => {
    if (line.trim() === "") return false;
    nonblank++;
    const r = isRecord(line);
    if (r) records++;
    return r;
  });
  if (nonblank < MIN_LINES || records < nonblank * 0.6) return undefined;

  const out: string[] = [];
  let collapsed = false;
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    const loose = record[i]! && !IMPORTANT.test(first) && !LOCATION.test(first);
    const key = loose ? normalise(first) : first;
    let j = i + 1;
    let exact = true;
    while (j < lines.length) {
      const line = lines[j]!;
      if (line === first) { j++; continue; }
      if (!loose || !record[j] || IMPORTANT.test(line) || LOCATION.test(line) || normalise(line) !== key) break;
      exact = false;
      j++;
    }
    const n = j - i;
    if (n === 1 || first.trim() === "") out.push(...lines.slice(i, j));
    else {
      out.push(`${first}  [×${n}${exact ? "" : " similar"}]`);
      collapsed = true;
    }
    i = j;
  }
  if (!collapsed) return undefined;
  const result = out.join("\n");
  return trailingNewline ? `${result}\n` : result;
}

export default textCompressor("log-dedupe", ["tool-results"], compressLog);
