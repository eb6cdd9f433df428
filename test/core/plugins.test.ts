import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { AUTH_DEADLINE_MS } from "../../core/pipeline/plugins.ts";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Plugin } from "../../core/plugins/hooks.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, tempDir, type TestGateway } from "../support/gateway.ts";

// Plugins from a directory: the README's executor, hot reload, and isolation of failures.

const README = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");

/** The plugin code block that follows `<!-- plugin:NAME -->` in the README. */
function readmePlugin(name: string): string {
  const at = README.indexOf(`<!-- plugin:${name} -->`);
  const block = /```ts\n([\s\S]*?)```/.exec(README.slice(at));
  if (at < 0 || !block) throw new Error(`no plugin:${name} block in README.md`);
  return block[1]!;
}

/** A fake Acme API as the README plugin describes it. */
function startAcme() {
  const seen: Array<{ key: string | null; body: { prompt: string; stream: boolean; model: string } }> = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const body = await request.json() as { prompt: string; stream: boolean; model: string };
      seen.push({ key: request.headers.get("x-acme-key"), body });
      if (!body.stream) return Response.json({ id: "acme-1", output: `acme says: ${body.prompt}`, finish: "stop", tokens: { in: 9, out: 4 } });
      const lines = ["acme ", "streams ", "too"].map((delta) => JSON.stringify({ delta })).concat(JSON.stringify({ finish: "stop", tokens: { in: 3, out: 3 } }));
      return new Response(lines.join("\n") + "\n", { headers: { "content-type": "application/x-ndjson" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}

const hotPlugin = (word: string) => `
export default {
  hook: "executor",
  kind: "hot",
  async execute(ir) {
    return { id: "hot-1", model: ir.model, created: 1, content: [{ type: "text", text: "${word}" }], finishReason: "stop" };
  },
};
`;

let acme: ReturnType<typeof startAcme>;
let upstream: FakeUpstream;
let gateway: TestGateway;
let pluginsDir: string;
let client: OpenAI;

const broken: Plugin = {
  hook: "executor",
  kind: "broken",
  execute: async () => {
    throw new Error("broken executor exploded");
  },
};
let compressorCalls = 0;
const throwingCompressor: Plugin = {
  hook: "compressor",
  name: "throws",
  touches: ["user-text"],
  compress: () => {
    compressorCalls++;
    throw new Error("compressor exploded");
  },
};

beforeAll(async () => {
  acme = startAcme();
  upstream = startFakeUpstream();
  pluginsDir = join(tempDir(), "plugins.d");
  mkdirSync(pluginsDir);
  writeFileSync(join(pluginsDir, "acme.ts"), readmePlugin("acme"));
  writeFileSync(join(pluginsDir, "hot.ts"), hotPlugin("first version"));
  writeFileSync(join(pluginsDir, "throws-on-load.ts"), `throw new Error("load-time failure");\nexport default {};`);
  writeFileSync(join(pluginsDir, "not-a-plugin.ts"), `export default { hook: "teleporter" };`);
  gateway = await startGateway(`
plugins_dir: ${pluginsDir}
providers:
  - { id: acme, kind: acme, base_url: "${acme.url}", api_key: acme-secret-key-42, models: [acme-1] }
  - { id: hot, kind: hot, models: [hot-1] }
  - { id: broken, kind: broken, models: [fragile] }
  - { id: local, kind: openai, base_url: "${upstream.url}", models: [fake-model] }
routes:
  - { name: resilient, targets: [broken/fragile, local/fake-model] }
`, { plugins: [...builtinPlugins, broken, throwingCompressor] });
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await gateway.close();
  await acme.stop();
  await upstream.stop();
  rmSync(pluginsDir, { recursive: true, force: true });
});

const eventsOfType = (type: string) => gateway.gw.log.read(0, 100_000).filter((e) => e.type === type);

describe("the README's executor plugin, loaded from the plugins directory", () => {
  test("non-streaming through the openai SDK", async () => {
    const answer = await client.chat.completions.create({
      model: "acme-1", messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hello acme" }],
    });
    expect(answer.choices[0]!.message.content).toBe("acme says: be brief\nuser: hello acme");
    expect(answer.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4 });
    expect(acme.seen.at(-1)!.key).toBe("acme-secret-key-42");
    const loaded = eventsOfType("plugin.loaded").map((e) => e.data as { plugin: string; source: string });
    expect(loaded).toContainEqual({ plugin: "executor:acme", hook: "executor", source: join(pluginsDir, "acme.ts") });
  });

  test("streaming: NDJSON translated to OpenAI chunks, usage recorded", async () => {
    const stream = await client.chat.completions.create({ model: "acme/acme-1", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "s" }] });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("acme streams too");
    expect(finish).toBe("stop");
    expect(usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 3 });
    const completed = eventsOfType("request.completed").at(-1)!.data;
    expect(completed).toMatchObject({ provider: "acme", stream: true, usage: { input_tokens: 3, output_tokens: 3 } });
  });
});

describe("hot reload", () => {
  test("editing a plugin file changes behaviour without a restart", async () => {
    const ask = async () => (await client.chat.completions.create({ model: "hot-1", messages: [{ role: "user", content: "?" }] })).choices[0]!.message.content;
    expect(await ask()).toBe("first version");
    writeFileSync(join(pluginsDir, "hot.ts"), hotPlugin("second version"));
    let answer: string | null = null;
    for (let i = 0; i < 50 && answer !== "second version"; i++) {
      await Bun.sleep(100);
      answer = await ask();
    }
    expect(answer).toBe("second version");
  });

  test("a plugin file that is removed is unloaded; its provider then fails cleanly", async () => {
    writeFileSync(join(pluginsDir, "gone.ts"), hotPlugin("x").replace('kind: "hot"', 'kind: "gone"'));
    for (let i = 0; i < 50 && !gateway.gw.plugins.executor("gone"); i++) await Bun.sleep(100);
    expect(gateway.gw.plugins.executor("gone")).toBeDefined();
    rmSync(join(pluginsDir, "gone.ts"));
    for (let i = 0; i < 50 && gateway.gw.plugins.executor("gone"); i++) await Bun.sleep(100);
    expect(gateway.gw.plugins.executor("gone")).toBeUndefined();
    expect(eventsOfType("plugin.unloaded").map((e) => (e.data as { plugin: string }).plugin)).toContain("executor:gone");
  });
});

describe("isolation", () => {
  test("a plugin that throws on load, or exports no plugin, is recorded and skipped", () => {
    const failures = eventsOfType("plugin.failed").map((e) => e.data as { source: string; phase: string; error: string });
    const load = failures.find((f) => f.source.endsWith("throws-on-load.ts"));
    expect(load).toMatchObject({ phase: "load" });
    expect(load!.error).toContain("load-time failure");
    const shape = failures.find((f) => f.source.endsWith("not-a-plugin.ts"));
    expect(shape!.error).toContain("not a plugin definition");
  });

  test("an executor that throws on a call is recorded, and the route falls back to the next target", async () => {
    const { data, response } = await client.chat.completions.create({ model: "resilient", messages: [{ role: "user", content: "still works" }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe("echo: still works");
    expect(response.headers.get("x-sluice-attempts")).toBe("2");
    expect(response.headers.get("x-sluice-provider")).toBe("local");
    const id = response.headers.get("x-sluice-request-id")!;
    const timeline = gateway.gw.log.forRequest(id);
    expect(timeline.map((e) => e.type)).toEqual([
      "request.received", "route.decided", "plugin.failed", "attempt.started", "plugin.failed", "attempt.failed", "attempt.started", "attempt.succeeded", "request.completed",
    ]);
    expect(timeline[2]!.data).toMatchObject({ plugin: "compressor:throws", phase: "call" });
    expect(timeline[4]!.data).toMatchObject({ plugin: "executor:broken", phase: "call", error: "broken executor exploded" });
    expect(timeline[5]!.data).toMatchObject({ target: "broken/fragile", fallback: true });
  });

  test("an executor that returns nonsense fails its attempt as a plugin failure, not a 500", async () => {
    const nonsense: Plugin = { hook: "executor", kind: "nonsense", execute: async () => null as never };
    const other = await startGateway(`providers:\n  - { id: n, kind: nonsense, models: [nothing] }\n`, { plugins: [...builtinPlugins, nonsense] });
    try {
      const response = await fetch(`${other.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "nothing", messages: [{ role: "user", content: "x" }] }) });
      expect(response.status).toBe(502);
      const body = await response.json() as { error: { message: string } };
      expect(body.error.message).toContain("executor nonsense failed: execute() returned neither");
      const failed = other.gw.log.read(0, 1000).find((e) => e.type === "plugin.failed")!;
      expect(failed.data).toMatchObject({ plugin: "executor:nonsense", phase: "call" });
    } finally {
      await other.close();
    }
  });

  test("an executor whose error text holds the provider's key: the key is in no answer, event or log line", async () => {
    const KEY = "sk-leaky-provider-key-0123456789abcdef";
    const leaky: Plugin = {
      hook: "executor", kind: "leaky",
      execute: async (_ir, ctx) => {
        throw new Error(`upstream refused key ${ctx.provider.api_key} and caller sk-caller-looking-secret-0123456789`);
      },
    };
    const other = await startGateway(`providers:\n  - { id: l, kind: leaky, api_key: ${KEY}, models: [m] }\n`, { plugins: [...builtinPlugins, leaky] });
    try {
      const response = await fetch(`${other.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }) });
      expect(response.status).toBe(502);
      const body = await response.text();
      expect(body).toContain("upstream refused key [redacted]");
      const everything = [body, JSON.stringify(other.gw.log.read(0, 1000)), JSON.stringify(other.logs())].join("\n");
      expect(everything).not.toContain(KEY);
      expect(everything).not.toContain("sk-caller-looking-secret");
    } finally {
      await other.close();
    }
  });

  test("a compressor that throws is skipped: the request goes upstream unchanged", async () => {
    const before = compressorCalls;
    upstream.reset();
    const answer = await client.chat.completions.create({ model: "local/fake-model", messages: [{ role: "user", content: "plain" }] });
    expect(compressorCalls).toBe(before + 1);
    expect(answer.choices[0]!.message.content).toBe("echo: plain");
    expect(upstream.seen[0]!.body).toBe(JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "plain" }] }));
    expect(eventsOfType("plugin.failed").some((e) => (e.data as { plugin: string }).plugin === "compressor:throws")).toBe(true);
  });
});

describe("request plugins that change the request", () => {
  test("a compressor's rewrite is encoded from the IR and reaches the upstream", async () => {
    const shout: Plugin = {
      hook: "compressor", name: "shout", touches: ["user-text"],
      compress: (request) => ({
        ...request,
        messages: request.messages.map((m) => ({ ...m, content: m.content.map((p) => (p.type === "text" ? { ...p, text: p.text.toUpperCase() } : p)) })),
      }),
    };
    const local = startFakeUpstream();
    const other = await startGateway(`providers:\n  - { id: local, kind: openai, base_url: "${local.url}", models: [fake-model] }\n`, { plugins: [...builtinPlugins, shout] });
    try {
      const response = await fetch(`${other.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "quiet" }] }) });
      expect((await response.json() as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe("echo: QUIET");
      expect(other.gw.log.read(0, 1000).find((e) => e.type === "attempt.started")!.data).toMatchObject({ passthrough: false });
    } finally {
      await other.close();
      await local.stop();
    }
  });

  test("an auth plugin decides who calls; a refusal is a 401 in OpenAI's shape", async () => {
    const auth: Plugin = {
      hook: "auth", name: "static",
      authenticate: ({ credential }) => (credential === "let-me-in" ? { caller: "key_demo" } : { deny: { kind: "authentication", message: "invalid API key" } }),
    };
    const local = startFakeUpstream();
    const other = await startGateway(`providers:\n  - { id: local, kind: openai, base_url: "${local.url}", models: [fake-model] }\n`, { plugins: [...builtinPlugins, auth] });
    try {
      const body = JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] });
      const denied = await fetch(`${other.url}/v1/chat/completions`, { method: "POST", body, headers: { authorization: "Bearer wrong" } });
      expect(denied.status).toBe(401);
      expect(await denied.json()).toMatchObject({ error: { type: "authentication_error" } });
      expect(local.seen.length).toBe(0);
      const allowed = await fetch(`${other.url}/v1/chat/completions`, { method: "POST", body, headers: { "x-api-key": "let-me-in" } });
      expect(allowed.status).toBe(200);
      const received = other.gw.log.forRequest(allowed.headers.get("x-sluice-request-id")!)[0]!;
      expect(received.data).toMatchObject({ caller: "key_demo" });
      expect(JSON.stringify(other.gw.log.read(0, 1000))).not.toContain("let-me-in");
    } finally {
      await other.close();
      await local.stop();
    }
  });

  test("an auth plugin that never decides: the request is refused as unavailable after the deadline, not held forever", async () => {
    const hung: Plugin = { hook: "auth", name: "hung", authenticate: () => new Promise(() => {}) };
    const local = startFakeUpstream();
    const other = await startGateway(`providers:\n  - { id: local, kind: openai, base_url: "${local.url}", models: [fake-model] }\n`, { plugins: [...builtinPlugins, hung] });
    try {
      const started = performance.now();
      const response = await fetch(`${other.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] }) });
      expect(response.status).toBe(503);
      expect(performance.now() - started).toBeGreaterThanOrEqual(AUTH_DEADLINE_MS - 50);
      expect(performance.now() - started).toBeLessThan(AUTH_DEADLINE_MS + 3000);
      expect(local.seen.length).toBe(0);
      expect(other.gw.log.read(0, 1000).find((e) => e.type === "plugin.failed")?.data).toMatchObject({ plugin: "auth:hung", error: expect.stringContaining("no decision within") });
    } finally {
      await other.close();
      await local.stop();
    }
  });

  test("plugins in a directory others can write to are not loaded (anyone could have put them there)", async () => {
    const dir = join(tempDir(), "open.d");
    mkdirSync(dir);
    writeFileSync(join(dir, "acme.ts"), readmePlugin("acme"));
    chmodSync(dir, 0o777);
    const other = await startGateway(`plugins_dir: ${dir}\nproviders: []\n`);
    try {
      expect(other.gw.plugins.kinds().has("acme")).toBe(false);
      const failed = other.gw.log.read(0, 1000).filter((e) => e.type === "plugin.failed").map((e) => e.data as { error: string });
      expect(failed).toEqual([expect.objectContaining({ error: expect.stringContaining("plugins directory is writable by group or others") })]);
    } finally {
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
