import { afterAll, beforeAll, expect, test } from "vitest";
import type { Plugin } from "../../core/plugins/hooks.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// The compressor hook's contract, whatever the compressor: it only ever sees the newest turn
// (what no earlier request of the conversation sent), so the bytes before it stay identical turn
// after turn and the provider's prompt cache keeps matching; what it saved is on record; it can be
// turned off per route and per request; one that throws is skipped and recorded.

/** Collapses runs of repeated lines in tool output, the way a log compressor would. */
const dedupe: Plugin = {
  hook: "compressor",
  name: "dedupe",
  touches: ["tool-results", "user-text"],
  compress(request) {
    let changed = false;
    const squash = (text: string) => {
      const out = text.replace(/(^.*$)(\n\1)+/gm, (run, line: string) => `${line}  [×${run.split("\n").length}]`);
      if (out !== text) changed = true;
      return out;
    };
    const messages = request.messages.map((m) => ({
      ...m,
      content: m.content.map((p) => p.type === "text" ? { ...p, text: squash(p.text) }
        : p.type === "tool-result" ? { ...p, content: p.content.map((c) => c.type === "text" ? { ...c, text: squash(c.text) } : c) } : p),
    }));
    return changed ? { ...request, messages } : undefined;
  },
};
const broken: Plugin = { hook: "compressor", name: "broken", touches: ["user-text"], compress: () => { throw new Error("compressor bug"); } };

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gateway = await startGateway(`
providers:
  - { id: p, kind: openai, base_url: "${upstream.url}", models: [m] }
routes:
  - { name: saver, targets: [p/m] }
  - { name: plain, targets: [p/m], compress: false }
  - { name: partial, targets: [p/m], compress: { skip: [dedupe] } }
`, { plugins: [...builtinPlugins, dedupe, broken] });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.stop();
});

const noisy = (turn: number) => `turn ${turn} test log:\n${"PASS src/a.test.ts\n".repeat(30)}FAIL src/b.test.ts line ${turn}`;

async function send(model: string, messages: Array<{ role: string; content: string }>, headers: Record<string, string> = {}) {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model, messages }) });
  expect(response.status).toBe(200);
  return { id: response.headers.get("x-sluice-request-id")!, answer: (await response.json() as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content };
}

test("across a 20-turn conversation the upstream sees identical prefixes; only the newest turn is compressed", async () => {
  upstream.reset();
  const history: Array<{ role: string; content: string }> = [];
  for (let turn = 1; turn <= 20; turn++) {
    history.push({ role: "user", content: noisy(turn) });
    const { answer } = await send("saver", history);
    history.push({ role: "assistant", content: answer });
  }
  const sent = upstream.seen.map((s) => s.json.messages as Array<{ role: string; content: string }>);
  for (let i = 1; i < sent.length; i++) {
    // Everything the previous request sent, except its (compressed) newest turn, is sent again byte for byte.
    const previous = sent[i - 1]!;
    const prefix = previous.slice(0, previous.length - 1);
    expect(JSON.stringify(sent[i]!.slice(0, prefix.length))).toBe(JSON.stringify(prefix));
  }
  // The newest turn went up compressed, with its failing line intact.
  const last = sent.at(-1)!.at(-1)!.content;
  expect(last).toContain("PASS src/a.test.ts  [×30]");
  expect(last).toContain("FAIL src/b.test.ts line 20");
});

test("what a compressor saved is on record; a compressor that throws is skipped and recorded", async () => {
  const { id } = await send("saver", [{ role: "user", content: noisy(1) }]);
  const events = gateway.gw.log.forRequest(id);
  const applied = events.filter((e) => e.type === "compression.applied").map((e) => e.data as { compressor: string; tokens_before: number; tokens_after: number });
  expect(applied).toHaveLength(1);
  expect(applied[0]!.compressor).toBe("dedupe");
  expect(applied[0]!.tokens_after).toBeLessThan(applied[0]!.tokens_before / 3);
  expect(events.some((e) => e.type === "plugin.failed" && (e.data as { plugin: string }).plugin === "compressor:broken")).toBe(true);
});

test("off per route, per route and name, and per request", async () => {
  upstream.reset();
  await send("plain", [{ role: "user", content: noisy(2) }]);
  await send("partial", [{ role: "user", content: noisy(3) }]);
  await send("saver", [{ role: "user", content: noisy(4) }], { "x-sluice-compress": "off" });
  await send("saver", [{ role: "user", content: noisy(5) }], { "x-sluice-compress": "-dedupe" });
  for (const seen of upstream.seen) expect((seen.json.messages as Array<{ content: string }>)[0]!.content).not.toContain("[×");
  // Untouched requests still pass through byte for byte.
  expect(upstream.seen[0]!.body).toContain(JSON.stringify(noisy(2)).slice(1, 40));
});

test("a system or developer message after the conversation began is never moved: such a request goes up as the client wrote it", async () => {
  upstream.reset();
  const conversation = [
    { role: "system", content: "You are terse." },
    { role: "user", content: "first question" },
    { role: "assistant", content: "first answer" },
    { role: "developer", content: "From now on, answer in French." },
    { role: "user", content: noisy(6) },
  ];
  const body = JSON.stringify({ model: "saver", messages: conversation });
  const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body });
  expect(response.status).toBe(200);
  const id = response.headers.get("x-sluice-request-id")!;
  // Not compressed (a rewrite would hoist the developer message to the top), so the client's own bytes.
  expect(upstream.seen[0]!.body).toBe(body.replace('"model":"saver"', '"model":"m"'));
  expect((upstream.seen[0]!.json.messages as Array<{ role: string }>).map((m) => m.role)).toEqual(["system", "user", "assistant", "developer", "user"]);
  expect(gateway.gw.log.forRequest(id).some((e) => e.type === "compression.applied")).toBe(false);

  // The same conversation with its instructions up front is compressed as usual.
  upstream.reset();
  await send("saver", [conversation[0]!, conversation[3]!, ...conversation.slice(1, 3), conversation[4]!]);
  expect((upstream.seen[0]!.json.messages as Array<{ content: string }>).at(-1)!.content).toContain("[×30]");
});
