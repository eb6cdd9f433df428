import { textCompressor } from "./text.ts";

// Test runner output (vitest/jest, pytest, go test, cargo test): passing test lines go (counted
// in one marker); failures keep their assertion output and the stack frames in the user's code
// (frames in node_modules, site-packages or the runtime go); summary lines stay.

const MAX_LINES = 200_000;

/**
 * A pytest -v line for a passing test: `tests/test_a.py::test_b[x] PASSED  [ 10%]`. Split at the
 * last " PASSED" rather than matched whole: `^\S+::\S.*\sPASSED` backtracked quadratically on
 * long lines full of "::" (10 s on 1 MB).
 */
function pytestPassed(line: string): boolean {
  const at = line.lastIndexOf(" PASSED");
  return at > 0 && /^\S+::\S/.test(line.slice(0, at)) && /^ PASSED(?:\s+\[\s*\d+%\])?\s*$/.test(line.slice(at));
}

// Lines that report one passing test (or one fully passing file), per runner.
const PASSING: Array<{ test(line: string): boolean }> = [
  /^\s*[✓✔√]\s/, // vitest / jest / mocha verbose
  /^\s*PASS\s+\S/, // jest file line
  { test: pytestPassed }, // pytest -v
  /^PASSED\s+\S+::/, // pytest -rA short summary
  /^\s*--- PASS: \S/, // go test -v
  /^test \S.* \.\.\. ok\s*$/, // cargo test
];
// Progress chatter that names no result (go test -v): dropped, not counted.
const CHATTER = /^\s*=== (?:RUN|PAUSE|CONT|NAME)\s/;
// Signs this is the output of a test runner at all. Tested against the whole text with /m, so no
// part may run across lines or unbounded along one (`^\s*` crosses newlines: a long run of blank
// lines made it quadratic, 27 s on 200 KB).
const SIGNATURE = [
  /^[ \t]*Test Files[ \t]+\d+ (?:passed|failed)/m, /^[ \t]*Tests:?[ \t]+\d+ (?:passed|failed|skipped|todo)/m, /^Test Suites:\s/m, // vitest, jest
  /^=+ .{0,300}?\b(?:passed|failed)\b.{0,300} =+$/m, /^=+ test session starts =+$/m, // pytest
  /^(?:ok|FAIL)\s+\S+\s+(?:\d+(?:\.\d+)?m?s|\(cached\)|\[)/m, /^[ \t]*--- (?:FAIL|PASS): \S+ \(\d/m, // go test
  /^test result: (?:ok|FAILED)\./m, /^running \d+ tests?$/m, // cargo
];
// A stack frame outside the user's code.
const LIB_FRAME = /^\s*(?:at\s.*(?:node_modules[\\/]|node:internal|\(internal\/|\(node:|<anonymous>\)?$)|❯\s+(?:node_modules[\\/]|node:)|File "[^"]*(?:site-packages|dist-packages|[\\/]lib[\\/]python\d)[^"]*", line \d+)/;
const PY_LIB_FRAME = /^\s*File "[^"]*(?:site-packages|dist-packages|[\\/]lib[\\/]python\d)[^"]*", line \d+/;

export function compressTestOutput(text: string): string | undefined {
  const lines = text.split("\n");
  if (lines.length < 5 || lines.length > MAX_LINES) return undefined;
  if (!SIGNATURE.some((re) => re.test(text))) return undefined;
  const out: string[] = [];
  let passing = 0;
  let markerAt = -1;
  let frames = 0;
  let chatter = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > 2000) { out.push(line); continue; }
    if (PASSING.some((re) => re.test(line))) {
      if (markerAt < 0) { markerAt = out.length; out.push(""); }
      passing++;
      continue;
    }
    if (CHATTER.test(line)) { chatter++; continue; }
    if (LIB_FRAME.test(line)) {
      // Collapse a run of library frames (a Python frame takes its indented code lines along).
      let n = 0;
      const indent = /^\s*/.exec(line)![0].length;
      while (i < lines.length && LIB_FRAME.test(lines[i]!)) {
        const py = PY_LIB_FRAME.test(lines[i]!);
        i++;
        n++;
        if (py) while (i < lines.length && /^\s*/.exec(lines[i]!)![0].length > indent && !/^\s*File "/.test(lines[i]!)) i++;
      }
      i--;
      frames += n;
      out.push(`${" ".repeat(indent)}[… ${n} library/runtime frame${n === 1 ? "" : "s"} omitted]`);
      continue;
    }
    out.push(line);
  }
  if (passing === 0 && frames === 0 && chatter === 0) return undefined;
  if (markerAt >= 0) out[markerAt] = `[… ${passing} passing test${passing === 1 ? "" : "s"} omitted]`;
  return out.join("\n");
}

export default textCompressor("test-output", ["tool-results"], compressTestOutput);
