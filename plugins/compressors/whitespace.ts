import { textCompressor } from "./text.ts";

// Whitespace nobody reads: CRLF becomes LF, trailing spaces and tabs go (so whitespace-only lines
// become empty), and more than two blank lines in a row become two. Indentation at the start of a
// line is never touched (Python, YAML, Makefiles); inside a fenced code block only trailing
// whitespace goes. A diff is left alone: its trailing whitespace can be the change itself.
//
// Tool results only: a user's own message may be about whitespace (a trailing space in a YAML
// value, a pasted patch, a Markdown hard line break of two trailing spaces), and the model should
// see it as written. The savings there would be small anyway.

const MAX_CHARS = 8_000_000;
const MAX_BLANK_RUN = 2;
const FENCE = /^ {0,3}(```|~~~)/;
const DIFF = /^(?:diff --git |@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@|Index: )/m;

/**
 * `line` without trailing spaces, tabs and CRs. A loop, not `/[ \t\r]+$/`: that pattern is tried
 * from every character of a long run of spaces that does not end the line, quadratic (200 000
 * spaces then a letter took 37 s).
 */
function trimTrailing(line: string): string {
  let end = line.length;
  for (let c = line.charCodeAt(end - 1); end > 0 && (c === 32 || c === 9 || c === 13); c = line.charCodeAt(end - 1)) end--;
  return end === line.length ? line : line.slice(0, end);
}

export function compressWhitespace(text: string): string | undefined {
  if (text.length > MAX_CHARS) return undefined;
  if (DIFF.test(text)) return undefined;
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  const out: string[] = [];
  let fence: string | undefined;
  let blanks = 0;
  for (const raw of lines) {
    const line = trimTrailing(raw);
    const f = FENCE.exec(line);
    if (f) {
      if (fence === undefined) fence = f[1];
      else if (f[1] === fence && line.trim() === fence) fence = undefined;
    }
    if (line === "" && fence === undefined) {
      blanks++;
      if (blanks > MAX_BLANK_RUN) continue;
    } else {
      blanks = 0;
    }
    out.push(line);
  }
  const result = out.join("\n");
  return result.length < text.length ? result : undefined;
}

export default textCompressor("whitespace", ["tool-results"], compressWhitespace);
