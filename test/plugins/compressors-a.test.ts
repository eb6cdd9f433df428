import { describe, expect, test } from "vitest";
import type { CompressorPlugin, IR } from "../../core/plugins/hooks.ts";
import buildErrors, { compressBuildErrors } from "../../plugins/compressors/build-errors.ts";
import git, { compressGit } from "../../plugins/compressors/git.ts";
import lint, { compressLint } from "../../plugins/compressors/lint.ts";
import stackTrace, { compressStackTrace } from "../../plugins/compressors/stack-trace.ts";
import testOutput, { compressTestOutput } from "../../plugins/compressors/test-output.ts";

// The first five built-in compressors, each on realistic tool output: shorter, every line that
// matters (error, path:line, failing test name, summary) still there, deterministic, and text of
// another kind (prose, JSON, code) left alone.

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// ---- inputs ---------------------------------------------------------------------------------

const lockEntries = range(120).map((i) => [
  `-    "node_modules/pkg-${i}": {`, `-      "version": "1.${i}.0",`, `+    "node_modules/pkg-${i}": {`, `+      "version": "1.${i}.1",`,
]).flat();
const DIFF = [
  "diff --git a/src/server.ts b/src/server.ts",
  "index 3b18e51..a9c2f4d 100644",
  "--- a/src/server.ts",
  "+++ b/src/server.ts",
  "@@ -10,30 +10,31 @@ import { route } from './route';",
  ...range(12).map((i) => ` const setting${i} = config.get("setting${i}");`),
  "-const port = 3000;",
  "+const port = Number(process.env.PORT ?? 3000);",
  "+const host = process.env.HOST ?? '127.0.0.1';",
  ...range(16).map((i) => ` app.use(middleware${i});`),
  "@@ -80,12 +81,12 @@ export function start() {",
  ...range(5).map((i) => ` log("starting ${i}");`),
  "-  server.listen(port);",
  "+  server.listen(port, host);",
  ...range(6).map((i) => ` log("started ${i}");`),
  "diff --git a/package-lock.json b/package-lock.json",
  "index 1111111..2222222 100644",
  "--- a/package-lock.json",
  "+++ b/package-lock.json",
  "@@ -1,600 +1,600 @@",
  ...lockEntries,
  "diff --git a/assets/logo.png b/assets/logo.png",
  "index 3333333..4444444 100644",
  "Binary files a/assets/logo.png and b/assets/logo.png differ",
  "diff --git a/src/route.ts b/src/route.ts",
  "index 5555555..6666666 100644",
  "--- a/src/route.ts",
  "+++ b/src/route.ts",
  "@@ -1,4 +1,5 @@",
  " import { Router } from 'express';",
  "+import { auth } from './auth';",
  " export const route = Router();",
  " route.get('/', handler);",
].join("\n");

const STATUS = [
  "On branch feature/port",
  "Your branch is up to date with 'origin/feature/port'.",
  "",
  "Changes not staged for commit:",
  '  (use "git add <file>..." to update what will be committed)',
  '  (use "git restore <file>..." to discard changes in working directory)',
  "\tmodified:   src/server.ts",
  "\tmodified:   src/route.ts",
  "",
  "Untracked files:",
  '  (use "git add <file>..." to include in what will be committed)',
  ...range(40).map((i) => `\tcoverage/lcov-report/file${i}.html`),
  "\tnotes.md",
  "",
  'no changes added to commit (use "git add" and/or "git commit -a")',
].join("\n");

const LOG = range(12).map((i) => [
  `commit ${(i.toString(16) + "a1b2c3d4e5f6a7b8c9d0").repeat(3).slice(0, 40)}`,
  `Author: Dev ${i} <dev${i}@example.com>`,
  `Date:   Mon Nov ${i + 1} 10:00:00 2026 +0000`,
  "",
  `    Fix issue #${100 + i} in the router`,
  "",
  "    A longer explanation of the change that goes on for a while and explains",
  "    the reasoning, the alternatives considered and the tests that were added.",
  "",
  `    Signed-off-by: Dev ${i} <dev${i}@example.com>`,
  "",
].join("\n")).join("\n");

const VITEST = [
  "",
  " RUN  v1.6.0 /home/dev/app",
  "",
  ...range(200).map((i) => ` ✓ src/module${i % 20}.test.ts > suite ${i % 7} > does thing ${i} ${i % 9}ms`),
  " × src/parser.test.ts > parser > parses nested arrays 4ms",
  "   → expected [ 1, [ 2 ] ] to deeply equal [ 1, [ 2, 3 ] ]",
  " × src/router.test.ts > router > rejects unknown routes 2ms",
  "   → expected 200 to be 404",
  " × src/auth.test.ts > auth > refreshes expired tokens 11ms",
  "   → Cannot read properties of undefined (reading 'token')",
  "",
  "⎯⎯⎯⎯⎯⎯⎯ Failed Tests 3 ⎯⎯⎯⎯⎯⎯⎯",
  "",
  " FAIL  src/parser.test.ts > parser > parses nested arrays",
  "AssertionError: expected [ 1, [ 2 ] ] to deeply equal [ 1, [ 2, 3 ] ]",
  "",
  "- Expected",
  "+ Received",
  "",
  "  Array [",
  "    1,",
  "    Array [",
  "      2,",
  "-     3,",
  "    ],",
  "  ]",
  "",
  " ❯ src/parser.test.ts:42:23",
  " ❯ node_modules/@vitest/runner/dist/index.js:135:14",
  " ❯ node_modules/@vitest/runner/dist/index.js:60:26",
  "",
  " FAIL  src/router.test.ts > router > rejects unknown routes",
  "AssertionError: expected 200 to be 404 // Object.is equality",
  " ❯ src/router.test.ts:88:31",
  "",
  " FAIL  src/auth.test.ts > auth > refreshes expired tokens",
  "TypeError: Cannot read properties of undefined (reading 'token')",
  " ❯ refresh src/auth.ts:17:22",
  " ❯ src/auth.test.ts:30:5",
  "    at processTicksAndRejections (node:internal/process/task_queues:95:5)",
  "    at runTest (node_modules/@vitest/runner/dist/index.js:781:11)",
  "    at runSuite (node_modules/@vitest/runner/dist/index.js:909:15)",
  "",
  " Test Files  3 failed | 17 passed (20)",
  "      Tests  3 failed | 200 passed (203)",
  "   Start at  10:12:01",
  "   Duration  2.31s",
].join("\n");

const PYTEST = [
  "============================= test session starts ==============================",
  "platform linux -- Python 3.12.1, pytest-8.0.0",
  "collected 62 items",
  "",
  ...range(60).map((i) => `tests/test_models.py::test_case_${i} PASSED${" ".repeat(10)}[${String(Math.round(i / 62 * 100)).padStart(3)}%]`),
  "tests/test_models.py::test_totals FAILED                                   [ 98%]",
  "tests/test_api.py::test_create_user FAILED                                 [100%]",
  "",
  "=================================== FAILURES ===================================",
  "_________________________________ test_totals __________________________________",
  "",
  "    def test_totals():",
  ">       assert total([1, 2]) == 4",
  "E       assert 3 == 4",
  "",
  "tests/test_models.py:88: AssertionError",
  "=========================== short test summary info ============================",
  "FAILED tests/test_models.py::test_totals - assert 3 == 4",
  "FAILED tests/test_api.py::test_create_user - KeyError: 'email'",
  "========================= 2 failed, 60 passed in 1.42s =========================",
].join("\n");

const GOTEST = [
  ...range(30).flatMap((i) => [`=== RUN   TestHandler${i}`, `--- PASS: TestHandler${i} (0.00s)`]),
  "=== RUN   TestParse",
  "    parse_test.go:41: got 3, want 4",
  "--- FAIL: TestParse (0.01s)",
  "FAIL",
  "FAIL\tgithub.com/acme/app/parse\t0.214s",
  "ok  \tgithub.com/acme/app/server\t0.101s",
].join("\n");

const CARGO = [
  "running 42 tests",
  ...range(40).map((i) => `test tests::case_${i} ... ok`),
  "test tests::parses_header ... FAILED",
  "test tests::rejects_empty ... FAILED",
  "",
  "failures:",
  "",
  "---- tests::parses_header stdout ----",
  "thread 'tests::parses_header' panicked at src/lib.rs:77:9:",
  "assertion `left == right` failed",
  "  left: 3",
  " right: 4",
  "",
  "failures:",
  "    tests::parses_header",
  "    tests::rejects_empty",
  "",
  "test result: FAILED. 40 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s",
].join("\n");

const TSC = [
  ...range(8).map(() => "src/api/client.ts(14,7): error TS2322: Type 'string' is not assignable to type 'number'."),
  "src/api/client.ts(22,3): error TS2345: Argument of type 'undefined' is not assignable to parameter of type 'Options'.",
  ...range(30).map((i) => `src/components/Widget${i}.tsx(${i + 3},9): warning TS6133: 'unused${i}' is declared but its value is never read.`),
  "src/index.ts(5,1): error TS2304: Cannot find name 'procss'.",
  "",
  "Found 41 errors in 33 files.",
].join("\n");

const RUSTC = [
  ...range(6).flatMap((i) => [
    `warning: unused variable: \`tmp${i}\``,
    ` --> src/handlers.rs:${10 + i * 7}:9`,
    "  |",
    `${10 + i * 7} |     let tmp${i} = compute();`,
    "  |         ^^^^ help: if this is intentional, prefix it with an underscore: `_tmp`",
    "  |",
    "  = note: `#[warn(unused_variables)]` on by default",
    "",
  ]),
  "error[E0308]: mismatched types",
  " --> src/main.rs:4:18",
  "  |",
  '4 |     let x: i32 = "five";',
  "  |            ---   ^^^^^^ expected `i32`, found `&str`",
  "  |            |",
  "  |            expected due to this",
  "  |",
  "  = note: expected type `i32`",
  "             found reference `&'static str`",
  "  = help: try using a conversion method: `.parse()`",
  "  = help: see the documentation for `str::parse` for more details about how this",
  "          conversion works and which types implement `FromStr`",
  "",
  "error: could not compile `app` (bin \"app\") due to 1 previous error; 6 warnings emitted",
].join("\n");

const GCC = [
  "src/main.c: In function 'main':",
  "src/main.c:12:5: error: implicit declaration of function 'prnt' [-Wimplicit-function-declaration]",
  "   12 |     prnt(\"hi\");",
  "      |     ^~~~",
  "src/main.c:12:5: note: did you mean 'printf'?",
  "src/main.c:12:5: note: include '<stdio.h>' or provide a declaration of 'printf'",
  "src/main.c:12:5: note: candidate function not viable",
  ...range(10).flatMap((i) => [`src/util.c:${i + 20}:9: warning: unused variable 'v${i}' [-Wunused-variable]`, `   ${i + 20} |     int v${i};`, "      |         ^~"]),
  "./cmd/server/main.go:14:2: undefined: handler",
  "Main.java:5: error: cannot find symbol",
  "    foo();",
  "    ^",
  "  symbol:   method foo()",
  "  location: class Main",
  "2 errors",
].join("\n");

const ESLINT = [
  "",
  ...range(6).flatMap((f) => [
    `/home/dev/app/src/feature${f}.js`,
    ...range(5).map((i) => `  ${i * 10 + 3}:${i + 5}  error    'value${f}${i}' is defined but never used  no-unused-vars`),
    `  ${f + 60}:1   warning  Unexpected console statement             no-console`,
    `  ${f + 70}:12  error    Expected '===' and instead saw '=='      eqeqeq`,
    "",
  ]),
  "✖ 42 problems (36 errors, 6 warnings)",
  "  6 errors and 0 warnings potentially fixable with the `--fix` option.",
  "",
].join("\n");

const RUFF = [
  ...range(12).map((i) => `app/module${i}.py:1:8: F401 [*] \`os\` imported but unused`),
  "app/views.py:44:5: E722 Do not use bare `except`",
  "app/views.py:90:80: E501 Line too long (104 > 79)",
  "Found 14 errors.",
  "[*] 12 fixable with the `--fix` option.",
].join("\n");

const BIOME = [
  ...range(6).flatMap((i) => [
    `src/file${i}.ts:${i + 1}:7 lint/suspicious/noExplicitAny ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━`,
    "",
    "  ✖ Unexpected any. Specify a different type.",
    "",
    `  > ${i + 1} │ let x: any = 1;`,
    "      │        ^^^",
    "",
    "  ℹ Unsafe fix: Use unknown instead.",
    "",
    `    ${i + 1}   │ - let·x:·any·=·1;`,
    `      ${i + 1} │ + let·x:·unknown·=·1;`,
    "",
  ]),
  "Checked 6 files in 4ms. No fixes applied.",
  "Found 6 errors.",
].join("\n");

const NODE_TRACE = [
  "/home/dev/app/node_modules/express/lib/router/index.js:646",
  "TypeError: Cannot read properties of undefined (reading 'id')",
  "    at getUser (/home/dev/app/src/users.js:42:18)",
  "    at Layer.handle [as handle_request] (/home/dev/app/node_modules/express/lib/router/layer.js:95:5)",
  "    at next (/home/dev/app/node_modules/express/lib/router/route.js:149:13)",
  "    at Route.dispatch (/home/dev/app/node_modules/express/lib/router/route.js:119:3)",
  "    at Layer.handle [as handle_request] (/home/dev/app/node_modules/express/lib/router/layer.js:95:5)",
  "    at /home/dev/app/node_modules/express/lib/router/index.js:284:15",
  "    at Function.process_params (/home/dev/app/node_modules/express/lib/router/index.js:346:12)",
  "    at next (/home/dev/app/node_modules/express/lib/router/index.js:280:10)",
  "    at authenticate (/home/dev/app/src/middleware/auth.js:17:5)",
  "    at Layer.handle [as handle_request] (/home/dev/app/node_modules/express/lib/router/layer.js:95:5)",
  "    at trim_prefix (/home/dev/app/node_modules/express/lib/router/index.js:328:13)",
  "    at /home/dev/app/node_modules/express/lib/router/index.js:286:9",
  "    at Function.process_params (/home/dev/app/node_modules/express/lib/router/index.js:346:12)",
  "    at next (/home/dev/app/node_modules/express/lib/router/index.js:280:10)",
  "    at jsonParser (/home/dev/app/node_modules/body-parser/lib/types/json.js:113:7)",
  "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
  "    at async Promise.all (index 0)",
].join("\n");
const NODE_TRACES = [NODE_TRACE, NODE_TRACE, NODE_TRACE].join("\n\n");

const PY_TRACE = [
  "Traceback (most recent call last):",
  '  File "/home/dev/app/manage.py", line 22, in <module>',
  "    main()",
  '  File "/home/dev/app/.venv/lib/python3.12/site-packages/django/core/management/__init__.py", line 442, in execute_from_command_line',
  "    utility.execute()",
  '  File "/home/dev/app/.venv/lib/python3.12/site-packages/django/core/management/__init__.py", line 436, in execute',
  "    self.fetch_command(subcommand).run_from_argv(self.argv)",
  '  File "/home/dev/app/.venv/lib/python3.12/site-packages/django/core/management/base.py", line 412, in run_from_argv',
  "    self.execute(*args, **cmd_options)",
  '  File "/home/dev/app/.venv/lib/python3.12/site-packages/django/core/management/base.py", line 458, in execute',
  "    output = self.handle(*args, **options)",
  "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
  '  File "/home/dev/app/billing/management/commands/charge.py", line 31, in handle',
  "    invoice = build_invoice(customer)",
  '  File "/home/dev/app/billing/invoices.py", line 58, in build_invoice',
  '    total = sum(line["amount"] for line in lines)',
  '  File "/usr/lib/python3.12/json/__init__.py", line 346, in loads',
  "    return _default_decoder.decode(s)",
  '  File "/usr/lib/python3.12/json/decoder.py", line 337, in decode',
  "    obj, end = self.raw_decode(s, idx=_w(s, 0))",
  '  File "/usr/lib/python3.12/json/decoder.py", line 355, in raw_decode',
  '    raise JSONDecodeError("Expecting value", s, err.value) from None',
  "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
].join("\n");

const JAVA_TRACE = [
  'Exception in thread "main" java.lang.IllegalStateException: cart is empty',
  "\tat com.acme.shop.Checkout.total(Checkout.java:41)",
  "\tat com.acme.shop.CheckoutController.post(CheckoutController.java:27)",
  "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
  "\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)",
  "\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)",
  "\tat org.springframework.web.method.support.InvocableHandlerMethod.invokeForRequest(InvocableHandlerMethod.java:188)",
  "\tat org.springframework.web.servlet.DispatcherServlet.doDispatch(DispatcherServlet.java:1089)",
  "\tat com.acme.shop.Main.main(Main.java:12)",
].join("\n");

const GO_PANIC = [
  "panic: runtime error: invalid memory address or nil pointer dereference",
  "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x5f3a2b]",
  "",
  "goroutine 1 [running]:",
  "github.com/acme/app/store.(*Store).Get(0x0, {0x6a1b2c, 0x3})",
  "\t/home/dev/app/store/store.go:48 +0x1b",
  "github.com/acme/app/server.handle({0x7f0a20, 0xc000120000}, 0xc000132000)",
  "\t/home/dev/app/server/server.go:91 +0x5d",
  "net/http.HandlerFunc.ServeHTTP(0x0?, {0x7f0a20?, 0xc000120000?}, 0x0?)",
  "\t/usr/local/go/src/net/http/server.go:2136 +0x29",
  "net/http.(*ServeMux).ServeHTTP(0x0?, {0x7f0a20, 0xc000120000}, 0xc000132000)",
  "\t/usr/local/go/src/net/http/server.go:2514 +0x142",
  "net/http.serverHandler.ServeHTTP({0xc0000a8000?}, {0x7f0a20?, 0xc000120000?}, 0x6?)",
  "\t/usr/local/go/src/net/http/server.go:2938 +0x8e",
  "net/http.(*conn).serve(0xc00009e000, {0x7f1b60, 0xc000096ff0})",
  "\t/usr/local/go/src/net/http/server.go:2009 +0x5f4",
  "created by net/http.(*Server).Serve in goroutine 1",
  "\t/usr/local/go/src/net/http/server.go:3086 +0x5cb",
  "exit status 2",
].join("\n");

const RUST_BACKTRACE = [
  "thread 'main' panicked at src/main.rs:12:5:",
  "index out of bounds: the len is 3 but the index is 7",
  "stack backtrace:",
  "   0: rust_begin_unwind",
  "             at /rustc/25ef9e3d85d934b27d9dada2f9dd52b1dc63bb04/library/std/src/panicking.rs:647:5",
  "   1: core::panicking::panic_fmt",
  "             at /rustc/25ef9e3d85d934b27d9dada2f9dd52b1dc63bb04/library/core/src/panicking.rs:72:14",
  "   2: core::panicking::panic_bounds_check",
  "             at /rustc/25ef9e3d85d934b27d9dada2f9dd52b1dc63bb04/library/core/src/panicking.rs:208:5",
  "   3: app::lookup",
  "             at ./src/main.rs:12:5",
  "   4: app::main",
  "             at ./src/main.rs:4:13",
  "   5: core::ops::function::FnOnce::call_once",
  "             at /rustc/25ef9e3d85d934b27d9dada2f9dd52b1dc63bb04/library/core/src/ops/function.rs:250:5",
  "   6: std::rt::lang_start::{{closure}}",
  "             at /rustc/25ef9e3d85d934b27d9dada2f9dd52b1dc63bb04/library/std/src/rt.rs:166:18",
  "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
].join("\n");

// ---- kinds of text no compressor may touch ---------------------------------------------------

const PROSE = `I looked at the failing build. The error: the port is read as a string, so the comparison
fails at startup. I changed src/server.ts line 12 to parse it with Number() and added a test.
Next I will look at the warning about unused variables, which seems harmless.
Let me know if you want me to also update the README and the docs on deployment.
    at some point we should also revisit the retry policy, since it is quite aggressive.`;
const JSON_TEXT = JSON.stringify({ tests: range(30).map((i) => ({ name: `✓ test ${i}`, file: `src/a${i}.ts:${i}:1`, status: "passed", error: i === 3 ? "error: boom" : null })) }, null, 2);
const CODE = `import { test, expect } from "vitest";

export function parse(input: string): number[] {
  // error: this comment mentions an error and a path src/a.ts:1:2
  const out: number[] = [];
  for (const part of input.split(",")) {
    if (part.trim() === "") continue;
    out.push(Number(part));
  }
  return out;
}

test("parse", () => {
  expect(parse("1,2")).toEqual([1, 2]);
});
`;

// ---- helpers -------------------------------------------------------------------------------

type Fn = (text: string) => string | undefined;

function savings(name: string, input: string, output: string): number {
  const pct = Math.round((1 - output.length / input.length) * 1000) / 10;
  console.log(`${name}: ${input.length} → ${output.length} chars (${pct}% saved)`);
  return pct;
}

/** Lines of the input that must survive: errors, failures, path:line references, summaries. */
function mustKeep(input: string, pattern: RegExp): string[] {
  return [...new Set(input.split("\n").filter((l) => pattern.test(l)).map((l) => l.trim()))];
}

function check(name: string, fn: Fn, input: string, keep: string[], minSaved: number): string {
  const out = fn(input);
  expect(out, `${name} should compress`).toBeDefined();
  expect(fn(input)).toBe(out);
  const pct = savings(name, input, out!);
  expect(pct).toBeGreaterThanOrEqual(minSaved);
  const missing = keep.filter((k) => !out!.includes(k));
  expect(missing, `${name} lost lines`).toEqual([]);
  return out!;
}

async function viaPlugin(plugin: CompressorPlugin, text: string): Promise<string> {
  const request: IR.Request = {
    model: "m",
    system: [],
    tools: [],
    stream: false,
    extra: {},
    messages: [
      { role: "user", content: [{ type: "text", text: "run it" }] },
      { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "bash", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", content: [{ type: "text", text }] }] },
    ],
  };
  const next = await plugin.compress(request, { request: "r1", model: "m" } as never);
  expect(next).toBeDefined();
  const part = next!.messages.at(-1)!.content[0]!;
  expect(part.type).toBe("tool-result");
  const inner = (part as IR.ToolResultPart).content[0]!;
  expect(inner.type).toBe("text");
  // The input request is not mutated; the user's own text is not touched.
  expect(((request.messages[2]!.content[0]! as IR.ToolResultPart).content[0] as IR.TextPart).text).toBe(text);
  expect(next!.messages[0]).toEqual(request.messages[0]);
  return (inner as IR.TextPart).text;
}

const ALL: Array<[string, Fn]> = [
  ["git", compressGit], ["test-output", compressTestOutput], ["build-errors", compressBuildErrors], ["lint", compressLint], ["stack-trace", compressStackTrace],
];

describe("leave other kinds of text alone", () => {
  for (const [name, fn] of ALL) {
    test(`${name}: prose, JSON and code come back undefined`, () => {
      expect(fn(PROSE)).toBeUndefined();
      expect(fn(JSON_TEXT)).toBeUndefined();
      expect(fn(CODE)).toBeUndefined();
      expect(fn("")).toBeUndefined();
    });
  }
  test("a chat reply with a checklist, 'ok' lines and indented 'at' lines is prose", () => {
    const chat = `ok so here is where things stand:\n ✓ parser fixed\n ✓ router fixed\n ✓ auth fixed\nFAIL is what CI said before.\nTests: 3 of them still need work.\n    at first glance the diff looks fine\n    at the end we ship it`;
    for (const [, fn] of ALL) expect(fn(chat)).toBeUndefined();
  });
  test("huge inputs finish fast", () => {
    const huge = [VITEST, TSC, ESLINT, NODE_TRACES, DIFF].map((t) => t.repeat(1)).join("\n").split("\n");
    const big = range(60).flatMap(() => huge).join("\n");
    const long = "    at " + "node_modules/".repeat(50_000) + "x (a.js:1:1)";
    for (const [name, fn] of ALL) {
      const t0 = performance.now();
      fn(big);
      fn(`${long}\n${long}\n${long}\nError: x\n${long}`);
      fn(`  1:1  error  ${"a  ".repeat(20_000)}!\n`.repeat(5));
      const ms = performance.now() - t0;
      console.log(`${name}: ${big.length} chars + pathological lines in ${ms.toFixed(0)}ms`);
      expect(ms).toBeLessThan(3000);
    }
  });
  test("no compressor claims another's kind it cannot shrink safely", () => {
    // Each compressor leaves the others' main inputs unchanged (or at least keeps their key lines).
    expect(compressGit(VITEST)).toBeUndefined();
    expect(compressGit(TSC)).toBeUndefined();
    expect(compressTestOutput(DIFF)).toBeUndefined();
    expect(compressLint(DIFF)).toBeUndefined();
    expect(compressStackTrace(DIFF)).toBeUndefined();
    expect(compressBuildErrors(ESLINT)).toBeUndefined();
    expect(compressLint(TSC)).toBeUndefined();
  });
});

describe("git", () => {
  test("diff: hunks kept, context shrunk, lockfile and binary folded", () => {
    const keep = mustKeep(DIFF, /^(diff --git|@@|[-+](?![-+]{2} )(?!.*"(?:node_modules|version))|Binary)/);
    // The lockfile's own hunk header goes with its body.
    const out = check("git diff", compressGit, DIFF, keep.filter((k) => !k.startsWith("Binary") && k !== "@@ -1,600 +1,600 @@"), 60);
    expect(out).toContain("[… generated/lock file package-lock.json: +240 -240 lines omitted]");
    expect(out).toContain("[… binary diff of assets/logo.png omitted]");
    expect(out).toMatch(/\[… \d+ unchanged lines\]/);
    expect(out).not.toContain("pkg-7");
    // Small context runs are left as they are.
    expect(out).toContain(" import { Router } from 'express';\n+import { auth } from './auth';");
  });
  test("status: hints gone, many untracked files grouped by directory", () => {
    const out = check("git status", compressGit, STATUS, ["On branch feature/port", "modified:   src/server.ts", "modified:   src/route.ts", "notes.md"], 50);
    expect(out).toContain(`coverage/lcov-report/{${range(40).map((i) => `file${i}.html`).join(",")}}  [40 untracked files]`);
    expect(out).not.toContain('(use "git add <file>');
  });
  test("status: every untracked path is still named after grouping (bench:saver's fidelity check once found 37 of 40 dropped)", () => {
    const status = ["On branch main", "Untracked files:", '  (use "git add <file>..." to include in what will be committed)',
      ...range(12).map((i) => `\tsrc/fixtures/rates-${2010 + i}.json`), "\tsrc/fixtures/odd,name.json", "\ttop-level.md", ""].join("\n");
    const out = compressGit(status)!;
    const named = new Set<string>();
    for (const line of out.split("\n")) {
      const group = /^\t(\S*)\{([^}]*)\}/.exec(line);
      if (group) for (const name of group[2]!.split(",")) named.add(`${group[1]}${name}`);
      else if (line.startsWith("\t")) named.add(line.slice(1));
    }
    for (let i = 0; i < 12; i++) expect(named).toContain(`src/fixtures/rates-${2010 + i}.json`);
    // A name with a comma cannot go in a group; it stays on its own line.
    expect(out).toContain("\tsrc/fixtures/odd,name.json");
    expect(out).toContain("\ttop-level.md");
  });
  test("log: one line per commit", () => {
    const keep = range(12).map((i) => `Fix issue #${100 + i} in the router`);
    const out = check("git log", compressGit, LOG, keep, 60);
    expect(out.split("\n").filter((l) => /^[0-9a-f]{10} Fix issue/.test(l))).toHaveLength(12);
    expect(out).not.toContain("Author:");
    expect(out).toContain("[… git log condensed");
  });
});

describe("test-output", () => {
  const failing = /×|FAIL|Error|❯ src|expected|→|Test Files|Tests |failed|panicked|left:|right:|test result:|running \d+|_test\.go:|^ok\s|^FAILED|assert|E\s{3}/;
  test("vitest: 200 passing dropped, 3 failures kept", () => {
    const keep = mustKeep(VITEST, failing).filter((l) => !/node_modules|node:internal/.test(l));
    const out = check("vitest", compressTestOutput, VITEST, keep, 70);
    expect(out).toContain("[… 200 passing tests omitted]");
    expect(out).not.toContain("node_modules/@vitest");
    for (const name of ["parses nested arrays", "rejects unknown routes", "refreshes expired tokens"]) expect(out).toContain(name);
  });
  test("pytest, go test, cargo test", () => {
    check("pytest", compressTestOutput, PYTEST, mustKeep(PYTEST, /FAILED|FAILURES|assert|tests\/test_models\.py:88|passed in|^E /), 50);
    const go = check("go test", compressTestOutput, GOTEST, mustKeep(GOTEST, /FAIL|parse_test\.go|^ok/), 50);
    expect(go).toContain("[… 30 passing tests omitted]");
    check("cargo test", compressTestOutput, CARGO, mustKeep(CARGO, /FAILED|panicked|left:|right:|failures:|tests::parses_header|tests::rejects_empty|running/), 30);
  });
});

describe("build-errors", () => {
  const located = /\(\d+,\d+\)|:\d+:\d+|\.java:\d+|Found \d+|^error|could not compile|^\d+ errors/;
  test("tsc: identical errors deduped, repeated warnings folded with every location", () => {
    const out = check("tsc", compressBuildErrors, TSC, mustKeep(TSC, /error TS|Found/), 40);
    expect(out).toContain("src/api/client.ts(14,7): error TS2322: Type 'string' is not assignable to type 'number'.  [×8]");
    for (let i = 0; i < 30; i++) expect(out).toContain(`src/components/Widget${i}.tsx(${i + 3},9)`);
  });
  test("rustc: notes cut to the first line, warnings of one lint folded", () => {
    const keep = mustKeep(RUSTC, /^error|-->/).map((l) => l.replace(/^--> /, ""));
    const out = check("rustc", compressBuildErrors, RUSTC, keep, 25);
    expect(out).toContain("= note: expected type `i32`");
    expect(out).not.toContain("see the documentation for `str::parse`");
    expect(out).toMatch(/more warnings? like the above \(unused_variables\)/);
  });
  test("gcc, go, javac", () => {
    const out = check("gcc/go/javac", compressBuildErrors, GCC, mustKeep(GCC, /error|undefined:|^\d+ errors/), 20);
    for (let i = 0; i < 10; i++) expect(out).toContain(`src/util.c:${i + 20}:9`);
    expect(out).toContain("src/main.c:12:5: note: did you mean 'printf'?");
    void located;
  });
});

describe("lint", () => {
  test("eslint: a repeated rule grouped with every file:line kept", () => {
    const out = check("eslint", compressLint, ESLINT, mustKeep(ESLINT, /problems|fixable/), 25);
    for (let f = 0; f < 6; f++) {
      expect(out).toContain(`/home/dev/app/src/feature${f}.js:`);
      for (let i = 0; i < 5; i++) expect(out).toContain(`${i * 10 + 3}:${i + 5} 'value${f}${i}'`);
    }
    expect(out).toContain("[no-unused-vars: 30× error, e.g. 'value00' is defined but never used]");
    expect(out).toContain("[no-console: 6× warning");
  });
  test("ruff and biome", () => {
    const ruff = check("ruff", compressLint, RUFF, [...mustKeep(RUFF, /E722|E501|Found|fixable/), ...range(12).map((i) => `app/module${i}.py: 1:8`)], 30);
    expect(ruff).toContain("[F401: 12×, e.g. `os` imported but unused]");
    const biome = check("biome", compressLint, BIOME, [...mustKeep(BIOME, /Found|Checked/), ...range(6).map((i) => `src/file${i}.ts: ${i + 1}:7`)], 50);
    expect(biome).toContain("lint/suspicious/noExplicitAny: 6×");
  });
});

describe("stack-trace", () => {
  test("node: node_modules runs collapsed, user frames kept, repeated traces deduped", () => {
    const keep = mustKeep(NODE_TRACE, /Error|\/src\//);
    const out = check("node trace", compressStackTrace, NODE_TRACES, keep, 70);
    expect(out).toMatch(/\[… \d+ frames in express omitted\]/);
    expect(out).toContain("[same trace ×3]");
  });
  test("python: site-packages and stdlib collapsed, innermost frame kept", () => {
    const keep = mustKeep(PY_TRACE, /Traceback|Error|\/home\/dev\/app\/(?!\.venv)|raise JSONDecodeError/);
    const out = check("python trace", compressStackTrace, PY_TRACE, keep, 25);
    expect(out).toContain("[… 4 frames in django omitted]");
    expect(out).toContain("[… 2 frames in python stdlib omitted]");
  });
  test("go: runtime and net/http frames collapsed", () => {
    const out = check("go panic", compressStackTrace, GO_PANIC, mustKeep(GO_PANIC, /panic|signal|acme|\/home\/dev|exit status/), 30);
    expect(out).toContain("[… 5 frames in go stdlib omitted]");
  });
  test("rust: std frames collapsed", () => {
    const out = check("rust backtrace", compressStackTrace, RUST_BACKTRACE, mustKeep(RUST_BACKTRACE, /panicked|index out|app::|\.\/src\/main\.rs|note:/), 30);
    expect(out).toMatch(/\[… 3 frames in rust std omitted\]/);
  });
  test("java: JDK and Spring frames collapsed", () => {
    const out = check("java trace", compressStackTrace, JAVA_TRACE, mustKeep(JAVA_TRACE, /Exception|com\.acme/), 20);
    expect(out).toMatch(/\[… 5 frames in .*java.*omitted\]/);
  });
});

describe("through the plugin interface", () => {
  const cases: Array<[CompressorPlugin, string, string]> = [
    [git, DIFF, "[… generated/lock file package-lock.json"],
    [testOutput, VITEST, "[… 200 passing tests omitted]"],
    [buildErrors, TSC, "[×8]"],
    [lint, ESLINT, "[no-unused-vars: 30×"],
    [stackTrace, NODE_TRACES, "[same trace ×3]"],
  ];
  for (const [plugin, text, marker] of cases) {
    test(`${plugin.name} compresses the newest tool result`, async () => {
      expect(plugin.hook).toBe("compressor");
      expect(plugin.touches).toEqual(["tool-results"]);
      expect(await viaPlugin(plugin, text)).toContain(marker);
    });
  }
});
