import { describe, expect, test } from "vitest";
import { builtinCompressors } from "../../plugins/compressors/index.ts";
import type { Request } from "../../core/ir.ts";

// A compressor runs on the event loop of a gateway serving everyone: one caller's odd tool
// output must not stall it. Each built-in compressor gets inputs shaped to make regular
// expressions backtrack (long runs of path segments, of one character, of digits, of spaces,
// long lines in a log) and must finish each well within a second (they take milliseconds; the
// quadratic path pattern this guards against took 29 s on a 1 MB log).

const line = (i: number, body: string) => `2024-01-01 00:00:0${i % 10} INFO ${body}`;
const INPUTS: Record<string, string> = {
  "log with long path-like runs": Array.from({ length: 10 }, (_, i) => line(i, `copying ${"a/".repeat(10_000)}b`)).join("\n"),
  "log with long dotted runs": Array.from({ length: 10 }, (_, i) => line(i, `${"a.".repeat(10_000)}x`)).join("\n"),
  "one long word": "x".repeat(200_000),
  "long digit run": "1".repeat(200_000),
  "long whitespace run": `a${" ".repeat(200_000)}b`,
  "long slash run": "/".repeat(200_000),
  "long newline run": `error: x\n${"\n".repeat(200_000)}y`,
  "long CRLF and tab runs": `a${"\r\n".repeat(50_000)}${"\t".repeat(100_000)}b`,
  "pytest-like summary line": `= ${"passed failed ".repeat(20_000)}x`,
  "long equals run": `${"=".repeat(200_000)} x`,
  "pytest-like lines full of ::": `running 3 tests\n${Array.from({ length: 300 }, () => `"finish_reason"${":".repeat(1990)}`).join("\n")}`,
  "test-runner-like lines": Array.from({ length: 20_000 }, (_, i) => ` FAIL  src/a${i}.test.ts > suite > test ${i}`).join("\n"),
  "many short path lines": Array.from({ length: 5000 }, (_, i) => `src/${"d/".repeat(20)}f${i}.ts:${i}:1 error TS2322: x`).join("\n"),
  "json with deep-ish keys": JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ path: `${"a/".repeat(50)}${i}.ts`, n: i }))),
};

function request(text: string): Request {
  return {
    model: "m", system: [], tools: [], stream: false, extra: {},
    messages: [
      { role: "assistant", content: [{ type: "tool-call", id: "t1", name: "run", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "t1", content: [{ type: "text", text }] }] },
    ],
  } as Request;
}

describe("built-in compressors on pathological input", () => {
  for (const compressor of builtinCompressors) {
    test(`${compressor.name} finishes each within a second`, async () => {
      for (const [name, text] of Object.entries(INPUTS)) {
        const started = performance.now();
        await compressor.compress(request(text), { request: "r", model: "m" });
        expect(performance.now() - started, `${compressor.name} on ${name}`).toBeLessThan(1000);
      }
    });
  }
});
