import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { formatSummary, summarize } from "../../core/cli/replay.ts";
import { TERSE_INSTRUCTION } from "../../core/pipeline/terse.ts";
import { fold } from "../../events/projections/projection.ts";
import { usageRollup } from "../../events/projections/usage-rollup.ts";
import { completion, startFakeUpstream, type FakeUpstream, type Seen } from "../support/fake-upstream.ts";
import { vendorBehaviour } from "../support/fake-vendors.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// The token saver on a real gateway: what compression saved shows in /api/usage in tokens and
// money; terse mode appends its instruction at the end of the system prompt, the same bytes on
// every turn, never touching messages; its holdout keeps whole conversations in one arm; and
// usage reports both arms' output tokens and the measured effect.

const ADMIN = "admin-saver-7f3a9c21-0123456789abcdef";
const PRICE = { input: 3, output: 15 };
/** The fake upstream's answers: short when it sees the terse instruction, long without. */
const TERSE_TOKENS = 12;
const PLAIN_TOKENS = 48;

let up: FakeUpstream;
let g: TestGateway;

type Wire = { role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string };
const systemOf = (seen: Seen) => (seen.json.messages as Wire[]).filter((m) => m.role === "system");
const nonSystem = (seen: Seen) => (seen.json.messages as Wire[]).filter((m) => m.role !== "system");
const isTerse = (seen: Seen) => systemOf(seen).some((m) => m.content === TERSE_INSTRUCTION);

beforeAll(async () => {
  up = startFakeUpstream((seen, request) => {
    if (seen.path.endsWith("/messages")) return vendorBehaviour(seen, request);
    const model = String(seen.json.model);
    return Response.json(isTerse(seen)
      ? completion("Fixed: null check.", model, { prompt_tokens: 1000, completion_tokens: TERSE_TOKENS })
      : completion("Sure! I looked into this carefully, and the fix is a null check. Let me know if…", model, { prompt_tokens: 1000, completion_tokens: PLAIN_TOKENS }));
  });
  const root = up.url.replace(/\/v1$/, "");
  g = await startGateway(`
admin_key: ${ADMIN}
providers:
  - id: p
    kind: openai
    base_url: "${root}/v1"
    api_key: sk-test-provider-key-123456
    models: [priced, m]
    model_info: { priced: { price: ${JSON.stringify(PRICE)} } }
  - { id: an, kind: anthropic, base_url: "${root}", api_key: sk-an-key-0000, models: [claude-x] }
routes:
  - { name: saver, targets: [p/priced] }
  - { name: terse, targets: [p/m], terse: true, compress: false }
  - { name: holdout, targets: [p/m], terse: { holdout: 0.5 }, compress: false }
  - { name: claude-terse, targets: [an/claude-x], terse: true }
  - { name: claude, targets: [an/claude-x] }
`);
});

afterAll(async () => {
  await g?.close();
  await up?.stop();
});

async function chat(model: string, messages: Wire[], headers: Record<string, string> = {}) {
  const response = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model, messages }) });
  expect(response.status).toBe(200);
  const body = await response.json() as { choices: Array<{ message: { content: string } }> };
  return { id: response.headers.get("x-sluice-request-id")!, answer: body.choices[0]!.message.content };
}

async function usage(query: string) {
  const response = await fetch(`${g.url}/api/usage${query}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  expect(response.status).toBe(200);
  return await response.json() as { data: Array<Record<string, any>>; totals: Record<string, any> };
}

/** A vitest run an agent's tool returned: 300 passing tests and one failure. */
function testLog(): string {
  const lines = [" RUN  v4.1.12 /repo", ""];
  for (let i = 0; i < 300; i++) lines.push(` ✓ src/cart/cart-${i % 17}.test.ts > cart computes total ${i} ${i % 9}ms`);
  lines.push(" × src/cart/cart-price.test.ts > cart rejects a negative price", "   → expected 200 to be 400 // Object.is equality", "",
    " Test Files  1 failed | 16 passed (17)", "      Tests  1 failed | 300 passed (301)");
  return lines.join("\n");
}

describe("compression savings in usage", () => {
  test("a big tool output is compressed, and /api/usage reports the tokens and the money saved, per compressor", async () => {
    const log = testLog();
    up.reset();
    const { id } = await chat("saver", [
      { role: "user", content: "run the tests and fix what fails" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "bash", arguments: '{"cmd":"npx vitest run"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: log },
    ]);
    const sent = String(nonSystem(up.seen[0]!).at(-1)!.content);
    expect(sent.length).toBeLessThan(log.length / 5);
    expect(sent).toContain("src/cart/cart-price.test.ts > cart rejects a negative price");

    const events = g.gw.log.forRequest(id);
    const applied = events.filter((e) => e.type === "compression.applied").map((e) => e.data as { compressor: string; tokens_before: number; tokens_after: number });
    const saved = applied.reduce((sum, a) => sum + a.tokens_before - a.tokens_after, 0);
    expect(applied.map((a) => a.compressor)).toContain("test-output");
    expect(saved).toBeGreaterThan(1000);
    const done = events.find((e) => e.type === "request.completed")!.data as { compression_saved_usd?: number };
    expect(done.compression_saved_usd).toBeCloseTo((saved * PRICE.input) / 1e6, 12);

    const report = await usage("?group=route,model&route=saver");
    expect(report.data).toHaveLength(1);
    const row = report.data[0]!;
    expect(row).toMatchObject({ route: "saver", model: "priced", requests: 1, compressed_requests: 1, tokens_saved: saved });
    expect(row.saved_usd).toBeGreaterThan(0);
    expect(row.saved_usd).toBeCloseTo((saved * PRICE.input) / 1e6, 9);
    expect(row.saved_by_compressor["test-output"].tokens_saved).toBeGreaterThan(1000);
    expect(row.saved_by_compressor["test-output"].requests).toBe(1);
    expect(row.cache_hits).toBe(0);
    expect(report.totals.tokens_saved).toBe(saved);
  });

  test("group=compressor is refused with a pointer to the breakdown every row carries", async () => {
    const response = await fetch(`${g.url}/api/usage?group=compressor`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain("saved_by_compressor");
  });
});

describe("an Anthropic client's own request, rewritten", () => {
  const messages = (extra: unknown[] = []) => [
    { role: "user", content: "run the tests" },
    { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "bash", input: { command: "npx vitest run" } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: testLog(), cache_control: { type: "ephemeral" } }, ...extra] },
  ];
  const send = async (model: string, body: Record<string, unknown>) => {
    const response = await fetch(`${g.url}/v1/messages`, { method: "POST", body: JSON.stringify({ model, max_tokens: 50, ...body }) });
    expect(response.status).toBe(200);
    return response.headers.get("x-sluice-request-id")!;
  };

  test("a compressed turn and terse mode keep the client's cache breakpoints on system, tools and blocks", async () => {
    up.reset();
    const system = [{ type: "text", text: "You are a coding agent.", cache_control: { type: "ephemeral" } }];
    const tools = [{ name: "bash", input_schema: { type: "object" }, cache_control: { type: "ephemeral" } }];
    const id = await send("claude-terse", { system, tools, messages: messages() });
    const sent = up.seen[0]!.json as { system: unknown[]; tools: unknown[]; messages: Array<{ content: Array<Record<string, unknown>> }> };
    expect(g.gw.log.forRequest(id).map((e) => e.type)).toContain("compression.applied");
    expect(sent.system).toEqual([...system, { type: "text", text: TERSE_INSTRUCTION }]);
    expect(sent.tools).toEqual(tools);
    const result = sent.messages[2]!.content[0]!;
    expect(result).toMatchObject({ type: "tool_result", tool_use_id: "t1", cache_control: { type: "ephemeral" } });
    expect(String(result.content)).toContain("cart rejects a negative price");
    expect(String(result.content).length).toBeLessThan(testLog().length / 3);
  });

  test("a request holding blocks the IR cannot carry goes as the client wrote it: no compressor, no terse instruction", async () => {
    up.reset();
    const document = { type: "document", source: { type: "text", media_type: "text/plain", data: "the spec" } };
    const body = { system: "Be brief.", messages: messages([document]) };
    const id = await send("claude-terse", body);
    expect(up.seen[0]!.json).toEqual({ model: "claude-x", max_tokens: 50, ...body });
    expect(g.gw.log.forRequest(id).map((e) => e.type).filter((t) => t === "compression.applied" || t === "terse.applied")).toEqual([]);
  });
});

describe("terse mode", () => {
  test("the instruction is appended last to the system prompt, byte-identical on every turn; messages are untouched", async () => {
    up.reset();
    const history: Wire[] = [{ role: "system", content: "You are a coding agent. Work in /repo." }];
    for (let turn = 1; turn <= 5; turn++) {
      history.push({ role: "user", content: `turn ${turn}: why does src/cart.ts:${turn * 10} throw?` });
      const { answer } = await chat("terse", history);
      history.push({ role: "assistant", content: answer });
    }
    expect(up.seen).toHaveLength(5);
    const systems = up.seen.map((s) => JSON.stringify(systemOf(s)));
    expect(new Set(systems).size).toBe(1);
    expect(systemOf(up.seen[0]!)).toEqual([
      { role: "system", content: "You are a coding agent. Work in /repo." },
      { role: "system", content: TERSE_INSTRUCTION },
    ]);
    // The system messages come first, and everything after them is what the client sent.
    up.seen.forEach((seen, i) => {
      const messages = seen.json.messages as Wire[];
      expect(messages.slice(0, 2).every((m) => m.role === "system")).toBe(true);
      expect(nonSystem(seen)).toEqual(history.slice(1, 2 + 2 * i));
    });
  });

  test("to an upstream of another dialect too: Anthropic's system blocks end with the instruction, the same each turn", async () => {
    up.reset();
    const history: Wire[] = [{ role: "system", content: "Be precise." }];
    for (let turn = 1; turn <= 3; turn++) {
      history.push({ role: "user", content: `question ${turn}` });
      const { answer } = await chat("claude-terse", history);
      history.push({ role: "assistant", content: answer });
    }
    const systems = up.seen.map((s) => JSON.stringify(s.json.system));
    expect(new Set(systems).size).toBe(1);
    expect(up.seen[0]!.json.system).toEqual([{ type: "text", text: "Be precise." }, { type: "text", text: TERSE_INSTRUCTION }]);
  });

  test("the header turns it on where the route does not, and off where it does; off leaves no record", async () => {
    up.reset();
    const on = await chat("m", [{ role: "user", content: "hi" }], { "x-sluice-terse": "on" });
    const off = await chat("terse", [{ role: "user", content: "hi" }], { "x-sluice-terse": "off" });
    const plain = await chat("m", [{ role: "user", content: "hi" }]);
    expect(up.seen.map(isTerse)).toEqual([true, false, false]);
    const arm = (id: string) => g.gw.log.forRequest(id).filter((e) => e.type === "terse.applied").map((e) => (e.data as { arm: string }).arm);
    expect(arm(on.id)).toEqual(["forced"]);
    expect(arm(off.id)).toEqual([]);
    expect(arm(plain.id)).toEqual([]);
    // Untouched, the request passed through byte for byte.
    expect(up.seen[2]!.body).toBe(JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }));
  });

  test("a holdout keeps each conversation in one arm on every turn, and usage reports both arms and the effect", async () => {
    up.reset();
    const arms: boolean[][] = [];
    for (let c = 0; c < 24; c++) {
      const history: Wire[] = [{ role: "user", content: `conversation ${c}: refactor src/module-${c}.ts` }];
      const seenArms: boolean[] = [];
      for (let turn = 0; turn < 3; turn++) {
        const before = up.seen.length;
        const { answer } = await chat("holdout", history);
        seenArms.push(isTerse(up.seen[before]!));
        history.push({ role: "assistant", content: answer }, { role: "user", content: `and turn ${turn + 2}?` });
      }
      arms.push(seenArms);
    }
    for (const conversation of arms) expect(new Set(conversation).size).toBe(1);
    const terseConversations = arms.filter((a) => a[0]).length;
    // The hash splits this fixed set 14 : 10 (about half, as the holdout asks).
    expect(terseConversations).toBe(14);

    const report = await usage("?group=route&route=holdout,terse");
    const row = Object.fromEntries(report.data.map((r) => [r.route, r]));
    expect(row.holdout).toMatchObject({
      terse: { requests: 3 * 14, output_tokens: 3 * 14 * TERSE_TOKENS, mean_output_tokens: TERSE_TOKENS },
      terse_control: { requests: 3 * 10, output_tokens: 3 * 10 * PLAIN_TOKENS, mean_output_tokens: PLAIN_TOKENS },
      terse_effect: { terse_mean_output_tokens: TERSE_TOKENS, control_mean_output_tokens: PLAIN_TOKENS, relative_change: (TERSE_TOKENS - PLAIN_TOKENS) / PLAIN_TOKENS },
      terse_effect_reason: null,
    });
    // Without a holdout there is nothing to compare with, and usage says so.
    expect(row.terse!.terse_effect).toBeNull();
    expect(row.terse!.terse_effect_reason).toContain("holdout");
    expect(row.terse!.terse.requests).toBeGreaterThan(0);
  });
});

test("after all of the above, rebuilding usage from event 1 equals the live state", () => {
  const live = g.gw.projections.get("usageRollup");
  expect(fold(usageRollup, g.gw.log.all())).toEqual(live);
  expect(Object.values(live.buckets).reduce((sum, b) => sum + b.tokens_saved, 0)).toBeGreaterThan(1000);
  // `sluice replay` reads the same from the log.
  const text = formatSummary(summarize(g.gw.log), "log");
  expect(text).toMatch(/token saver: 2 requests compressed, \d{4,} input tokens saved \(\$0\.0\d+\)/);
  expect(text).toMatch(/terse mode: \d+ answers with the instruction \(mean [\d.]+ output tokens\), 30 without \(mean 48\.0\): -\d+\.\d % output tokens with the instruction/);
});
