import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { vendorBehaviour } from "../support/fake-vendors.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// One caller's odd text must not stall the gateway for everyone (it is one event loop): text
// shaped to make pattern matching backtrack, in every place a request carries text, through a
// route with every feature that reads text turned on — compressors, complexity tiers, terse mode,
// the response cache, body capture, token-estimate sampling, count_tokens — in two dialects,
// passed through and translated. Each answer must come within a few seconds (they take
// milliseconds; the compressor patterns fixed in this session took 27–37 s on such text) and
// never be a 5xx. The fuzz test (fuzz.test.ts) covers random mutations; this one covers shapes.

const KB = 1024;
const SHAPES: Record<string, string> = {
  "spaces then a letter": `a${" ".repeat(200 * KB)}b`,
  "path-like run": `see ${"a/".repeat(100 * KB)}b`,
  "dotted run": `${"a.".repeat(100 * KB)}x`,
  "newlines then text": `error: x${"\n".repeat(200 * KB)}y`,
  "CRLF and tabs": `${"\r\n".repeat(50 * KB)}${"\t".repeat(100 * KB)}z`,
  "one long word": "x".repeat(300 * KB),
  "equals and words": `= ${"passed failed ".repeat(15 * KB)}x`,
  "log lines with long paths": Array.from({ length: 20 }, (_, i) => `2024-01-01 00:00:0${i % 10} INFO copying ${"d/".repeat(5 * KB)}f${i}`).join("\n"),
  "digits and hex": `${"0123456789abcdef".repeat(12 * KB)}!`,
  "brackets and quotes": `${'{"a":['.repeat(10 * KB)}${'"x",'.repeat(10 * KB)}`,
};

/** Where a request carries text: the system prompt, the user's message, a tool's result, a tool call's arguments. */
type Place = "system" | "user" | "tool-result" | "tool-arguments";
const PLACES: Place[] = ["system", "user", "tool-result", "tool-arguments"];

function openaiBody(model: string, place: Place, text: string): Record<string, unknown> {
  const call = { id: "c1", type: "function", function: { name: "run", arguments: place === "tool-arguments" ? JSON.stringify({ cmd: text }) : "{}" } };
  return {
    model,
    messages: [
      { role: "system", content: place === "system" ? text : "You help." },
      { role: "user", content: place === "user" ? text : "run it" },
      { role: "assistant", content: null, tool_calls: [call] },
      { role: "tool", tool_call_id: "c1", content: place === "tool-result" ? text : "ok" },
    ],
    tools: [{ type: "function", function: { name: "run", parameters: { type: "object" } } }],
  };
}

function anthropicBody(model: string, place: Place, text: string): Record<string, unknown> {
  return {
    model, max_tokens: 50,
    system: place === "system" ? text : "You help.",
    messages: [
      { role: "user", content: place === "user" ? text : "run it" },
      { role: "assistant", content: [{ type: "tool_use", id: "c1", name: "run", input: place === "tool-arguments" ? { cmd: text } : {} }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "c1", content: place === "tool-result" ? text : "ok" }] },
    ],
    tools: [{ name: "run", input_schema: { type: "object" } }],
  };
}

let up: FakeUpstream;
let g: TestGateway;

beforeAll(async () => {
  up = startFakeUpstream(vendorBehaviour);
  const root = up.url.replace(/\/v1$/, "");
  const features = "capture: { max_bytes: 1048576 }, cache: {}, terse: { holdout: 0.3 }, affinity: true";
  g = await startGateway(`
providers:
  - { id: oa, kind: openai, base_url: "${root}/v1", api_key: sk-adv-openai-123456, models: [gpt-x] }
  - { id: an, kind: anthropic, base_url: "${root}", api_key: sk-ant-adv-123456, models: [claude-x] }
routes:
  - { name: to-openai, targets: [oa/gpt-x], tiers: { complex: [oa/gpt-x], reasoning: [an/claude-x] }, ${features} }
  - { name: to-anthropic, targets: [an/claude-x], tiers: { simple: [an/claude-x] }, ${features} }
tokens: { estimate_sample: 1 }
`);
});

afterAll(async () => {
  await g?.close();
  await up?.stop();
});

async function timed(path: string, body: unknown): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${g.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

describe("text shaped to make pattern matching backtrack", () => {
  for (const [shape, text] of Object.entries(SHAPES)) {
    test(`${shape}: every endpoint and place answers within seconds, never a 5xx`, async () => {
      for (const place of PLACES) {
        const sent = [
          ["/v1/chat/completions (passthrough)", await timed("/v1/chat/completions", openaiBody("to-openai", place, text))],
          ["/v1/chat/completions → anthropic", await timed("/v1/chat/completions", openaiBody("to-anthropic", place, text))],
          ["/v1/messages (passthrough)", await timed("/v1/messages", anthropicBody("to-anthropic", place, text))],
          ["/v1/messages → openai", await timed("/v1/messages", anthropicBody("to-openai", place, text))],
          ["/v1/messages/count_tokens", await timed("/v1/messages/count_tokens", anthropicBody("to-anthropic", place, text))],
        ] as const;
        for (const [what, { status, ms }] of sent) {
          expect(status, `${what}, ${place}`).toBeLessThan(500);
          expect(ms, `${what}, ${place}`).toBeLessThan(3000);
        }
      }
      // The gateway still answers a plain request at once.
      const plain = await timed("/v1/chat/completions", { model: "to-openai", messages: [{ role: "user", content: "hi" }] });
      expect(plain.status).toBe(200);
    });
  }
});

describe("image URLs", () => {
  test("a data: URL with no comma (read before the caller is authenticated) is answered within seconds, in both OpenAI dialects", async () => {
    const url = `data:${"a".repeat(200 * KB)}`;
    const chat = await timed("/v1/chat/completions", { model: "to-openai", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }] }] });
    const responses = await timed("/v1/responses", { model: "to-openai", input: [{ role: "user", content: [{ type: "input_image", image_url: url }] }] });
    for (const { status, ms } of [chat, responses]) {
      expect(status).toBeLessThan(500);
      expect(ms).toBeLessThan(3000);
    }
  });
});
