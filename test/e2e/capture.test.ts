import OpenAI from "openai";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// Body capture, per route and off by default: the request and the answer as `body.captured`
// events, secrets redacted, cut at the route's cap.

const PROVIDER_KEY = "sk-canary-prov-77aa88bb99cc00dd";
let upstream: FakeUpstream;
let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gateway = await startGateway(`
providers:
  - { id: p, kind: openai, base_url: "${upstream.url}", api_key: ${PROVIDER_KEY}, models: [m] }
routes:
  - { name: debug, targets: [p/m], capture: { max_bytes: 400 } }
  - { name: quiet, targets: [p/m] }
`);
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.stop();
});

const captured = (id: string) => gateway.gw.log.forRequest(id).filter((e) => e.type === "body.captured").map((e) => e.data as {
  request_body: string; response_body: string; truncated?: { request: number; response: number };
});

async function waitCaptured(id: string) {
  for (let i = 0; i < 100 && captured(id).length === 0; i++) await Bun.sleep(10);
  return captured(id);
}

test("a route with capture keeps both bodies, with anything shaped like a key redacted", async () => {
  const secretInPrompt = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
  const { data, response } = await client.chat.completions
    .create({ model: "debug", messages: [{ role: "user", content: `my key is ${secretInPrompt} and ${PROVIDER_KEY}` }] }).withResponse();
  const [body] = await waitCaptured(response.headers.get("x-sluice-request-id")!);
  expect(body!.request_body).toContain('"model":"debug"');
  expect(body!.request_body).not.toContain(secretInPrompt);
  expect(body!.request_body).not.toContain(PROVIDER_KEY);
  expect(body!.request_body).toContain("[redacted]");
  expect(body!.response_body).toContain(data.choices[0]!.message.content!.slice(0, 10));
});

test("a stream is captured as sent, its end included, and long bodies are cut at the cap", async () => {
  const long = "x".repeat(1000);
  const { response } = await client.chat.completions
    .create({ model: "debug", stream: true, messages: [{ role: "user", content: long }] }).withResponse();
  const id = response.headers.get("x-sluice-request-id")!;
  // Read the stream to its end.
  await response.text();
  const [body] = await waitCaptured(id);
  expect(body!.request_body.length).toBe(400);
  expect(body!.truncated!.request).toBeGreaterThan(1000);
  expect(body!.response_body.startsWith("data: ")).toBe(true);
});

test("a failure is captured too; a route without capture keeps nothing", async () => {
  upstream.behave(() => Response.json({ error: { message: "bad tool schema" } }, { status: 400 }));
  try {
    const failed = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "debug", messages: [{ role: "user", content: "x" }] }) });
    expect(failed.status).toBe(400);
    const [body] = await waitCaptured(failed.headers.get("x-sluice-request-id")!);
    expect(body!.response_body).toContain("bad tool schema");
  } finally {
    upstream.reset();
  }
  const quiet = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "quiet", messages: [{ role: "user", content: "x" }] }) });
  await quiet.text();
  await Bun.sleep(50);
  expect(captured(quiet.headers.get("x-sluice-request-id")!)).toEqual([]);
});
