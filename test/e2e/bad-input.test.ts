import { afterAll, beforeAll, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { vendorBehaviour } from "../support/fake-vendors.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// Bad input of any kind, on every data-plane POST endpoint: a clear 4xx in the endpoint's own
// dialect, never a 5xx, and nothing reaches an upstream. (The property-based fuzzing of issue 6
// goes much further; this is the floor.)

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = startFakeUpstream(vendorBehaviour);
  const root = upstream.url.replace(/\/v1$/, "");
  gateway = await startGateway(`providers:
  - { id: oa, kind: openai, base_url: "${root}/v1", models: [gpt-x] }
  - { id: ge, kind: gemini, base_url: "${root}", models: [gemini-x] }
`);
});

afterAll(async () => {
  await gateway.close();
  await upstream.stop();
});

const ENDPOINTS: Array<[string, (body: unknown) => boolean]> = [
  ["/v1/chat/completions", (b) => typeof (b as { error?: { message?: unknown } }).error?.message === "string"],
  ["/v1/responses", (b) => typeof (b as { error?: { message?: unknown } }).error?.message === "string"],
  ["/v1/embeddings", (b) => typeof (b as { error?: { message?: unknown } }).error?.message === "string"],
  ["/v1/messages", (b) => (b as { type?: string }).type === "error"],
  ["/v1/messages/count_tokens", (b) => (b as { type?: string }).type === "error"],
  ["/v1beta/models/gemini-x:generateContent", (b) => typeof (b as { error?: { status?: unknown } }).error?.status === "string"],
  ["/v1beta/models/gemini-x:streamGenerateContent?alt=sse", (b) => typeof (b as { error?: { status?: unknown } }).error?.status === "string"],
  ["/v1beta/models/gemini-x:countTokens", (b) => typeof (b as { error?: { status?: unknown } }).error?.status === "string"],
  ["/v1beta/models/gemini-x:embedContent", (b) => typeof (b as { error?: { status?: unknown } }).error?.status === "string"],
];

const deep = "[".repeat(100_000) + "]".repeat(100_000);
const deepObject = JSON.stringify({ model: "gemini-x", contents: [{ parts: [{ text: "x" }] }], tools: JSON.parse("[".repeat(500) + "]".repeat(500)) });
const BODIES = [
  "", "{", "null", "[]", "\"text\"", "42", "true", "{}", deep, deepObject, "{\"model\":", "\u0000", "{\"model\": 1e400}",
  JSON.stringify({ model: ["gpt-x"], messages: {} }), JSON.stringify({ model: "gpt-x", messages: [null] }),
  JSON.stringify({ model: "gpt-x", messages: [{ role: "user", content: { "__proto__": { "polluted": true } } }] }),
  JSON.stringify({ model: "gpt-x", contents: "x".repeat(10), messages: "x", input: 12, max_tokens: "many" }),
  JSON.stringify({ contents: [{ parts: [{ inlineData: { mimeType: 7 } }] }] }),
];

test("every endpoint answers malformed bodies with a 4xx in its own dialect", async () => {
  let checked = 0;
  for (const [path, isDialectError] of ENDPOINTS) {
    for (const body of BODIES) {
      const response = await fetch(`${gateway.url}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } });
      const text = await response.text();
      expect(response.status, `${path} ${body.slice(0, 60)} → ${response.status} ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(response.status, `${path} ${body.slice(0, 60)} → ${response.status} ${text.slice(0, 200)}`).toBeLessThan(500);
      expect(isDialectError(JSON.parse(text)), `${path}: ${text.slice(0, 200)}`).toBe(true);
      checked++;
    }
  }
  expect(checked).toBe(ENDPOINTS.length * BODIES.length);
  expect(upstream.seen.length).toBe(0);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}, 60_000);
