import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// What the gateway changes in a request for a target is said in x-sluice-adjustments and on the
// attempt's event: max_tokens above the model's output limit is clamped to it. And a sample of
// answered requests is counted by Sluice's tokenizer beside the upstream's own count, which
// count_tokens then uses to correct its estimate.

let upstream: FakeUpstream;
let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gateway = await startGateway(`
tokens: { estimate_sample: 1 }
providers:
  - id: local
    kind: openai
    base_url: ${upstream.url}
    models: [small-model, roomy-model, count-model]
    model_info:
      small-model: { max_output: 100 }
`);
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.stop();
});

const events = (type: string) => [...gateway.gw.log.all()].filter((e) => e.type === type);

describe("x-sluice-adjustments", () => {
  test("max_tokens above the model's limit is clamped, said in the header and on the attempt's event", async () => {
    upstream.reset();
    const { data, response } = await client.chat.completions
      .create({ model: "small-model", max_tokens: 5000, messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe("echo: hi");
    expect(upstream.seen[0]!.json.max_tokens).toBe(100);
    expect(response.headers.get("x-sluice-adjustments")).toBe("max_tokens=100 (asked 5000, above local/small-model's output limit)");
    const succeeded = events("attempt.succeeded").find((e) => (e.data as { request: string }).request === response.headers.get("x-sluice-request-id"));
    expect((succeeded!.data as { adjustments?: string[] }).adjustments).toEqual(["max_tokens=100 (asked 5000, above local/small-model's output limit)"]);
  });

  test("a limit within bounds, or a model with no known limit, goes through untouched and unmarked", async () => {
    upstream.reset();
    const within = await client.chat.completions
      .create({ model: "small-model", max_tokens: 50, messages: [{ role: "user", content: "hi" }] }).withResponse();
    const unknown = await client.chat.completions
      .create({ model: "roomy-model", max_tokens: 50_000, messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(upstream.seen.map((s) => s.json.max_tokens)).toEqual([50, 50_000]);
    expect(within.response.headers.get("x-sluice-adjustments")).toBeNull();
    expect(unknown.response.headers.get("x-sluice-adjustments")).toBeNull();
    // Untouched requests still pass through byte for byte (same dialect).
    expect(upstream.seen[1]!.body).toContain('"max_tokens":50000');
  });

  test("streams are clamped too", async () => {
    upstream.reset();
    const { response } = await client.chat.completions
      .create({ model: "small-model", max_completion_tokens: 9999, stream: true, messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(response.headers.get("x-sluice-adjustments")).toContain("max_tokens=100");
    expect(upstream.seen[0]!.json.max_completion_tokens).toBe(100);
  });
});

describe("token estimates against reported usage", () => {
  test("answered requests are counted and compared; count_tokens applies the learnt ratio", async () => {
    upstream.reset();
    // The fake upstream reports 11 prompt tokens for every request.
    for (let i = 0; i < 5; i++) {
      await client.chat.completions.create({ model: "count-model", messages: [{ role: "user", content: `question number ${i}` }] });
    }
    // The samples are counted after each answer went out: wait for them, boundedly.
    const samplesNow = () => events("tokens.estimated").map((e) => e.data as { target: string; estimated: number; reported: number })
      .filter((s) => s.target === "local/count-model");
    for (let i = 0; i < 100 && samplesNow().length < 5; i++) await Bun.sleep(20);
    const samplesOf = samplesNow();
    expect(samplesOf).toHaveLength(5);
    expect(samplesOf.every((s) => s.reported === 11 && s.estimated > 0)).toBe(true);
    const state = gateway.gw.projections.get("tokenAccuracy")["local/count-model"]!;
    expect(state).toEqual({ samples: 5, estimated: samplesOf.reduce((n, s) => n + s.estimated, 0), reported: 55 });

    const body = { model: "count-model", messages: [{ role: "user", content: "question number 9" }] };
    const counted = await fetch(`${gateway.url}/v1/messages/count_tokens`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.json()) as { input_tokens: number };
    const raw = samplesOf[0]!.estimated; // "question number 0" counts the same as "question number 9"
    expect(counted.input_tokens).toBe(Math.round(raw * (55 / state.estimated)));
  });
});
