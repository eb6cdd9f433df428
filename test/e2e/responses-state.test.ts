import { join } from "node:path";
import pino from "pino";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { startServer } from "../../core/cli/serve.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, type TestGateway } from "../support/gateway.ts";

// The Responses API's state: `store` and `previous_response_id`, kept in the event log, served
// by any upstream (here an OpenAI chat-completions one), and rebuilt after a restart.

let upstream: FakeUpstream;
let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gateway = await startGateway(oneProvider(upstream.url));
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "x", maxRetries: 0 });
});

afterAll(async () => {
  await gateway.close();
  await upstream.stop();
});

beforeEach(() => upstream.reset());

const sentMessages = () => (upstream.seen.at(-1)!.json as { messages: Array<{ role: string; content: unknown }> }).messages;

describe("previous_response_id", () => {
  test("a continuation sends the stored conversation upstream, in order", async () => {
    const first = await client.responses.create({ model: "fake-model", input: "my name is Ada" });
    expect(first.id).toMatch(/^resp_[0-9a-f]{32}$/);
    expect(first.output_text).toBe("echo: my name is Ada");
    const second = await client.responses.create({ model: "fake-model", input: "what is my name?", previous_response_id: first.id });
    expect(sentMessages()).toEqual([
      { role: "user", content: "my name is Ada" },
      expect.objectContaining({ role: "assistant", content: "echo: my name is Ada" }),
      { role: "user", content: "what is my name?" },
    ]);
    const third = await client.responses.create({ model: "fake-model", input: "and again?", previous_response_id: second.id, instructions: "be brief" });
    const messages = sentMessages();
    expect(messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant", "user"]);
    expect(messages[0]!.content).toBe("be brief");
    expect(third.id).not.toBe(second.id);
  });

  test("streams are stored too, under the id the client saw", async () => {
    const stream = client.responses.stream({ model: "fake-model", input: "streamed turn" });
    const first = await stream.finalResponse();
    expect(first.id).toMatch(/^resp_/);
    await client.responses.create({ model: "fake-model", input: "next", previous_response_id: first.id });
    expect(sentMessages().map((m) => m.content)).toEqual(["streamed turn", "echo: streamed turn", "next"]);
  });

  test("store: false is not kept; an unknown id is a 400 naming the parameter", async () => {
    const unstored = await client.responses.create({ model: "fake-model", input: "forget me", store: false });
    const error = await client.responses.create({ model: "fake-model", input: "x", previous_response_id: unstored.id }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.param).toBe("previous_response_id");
    expect(error.message).toContain("not found");
    expect(upstream.seen.length).toBe(1);
  });

  test("stored turns are events, and a restarted gateway continues them", async () => {
    const first = await client.responses.create({ model: "fake-model", input: "remember across restarts" });
    const stored = gateway.gw.log.read(0, 100_000).filter((e) => e.type === "response.stored").map((e) => (e.data as { id: string }).id);
    expect(stored).toContain(first.id);
    // Restart on a copy of the log (the live server keeps writing its own).
    const { copyFileSync, mkdirSync } = await import("node:fs");
    const copy = join(gateway.dir, "data-restart");
    mkdirSync(copy, { recursive: true });
    gateway.gw.log.flush();
    copyFileSync(join(gateway.dir, "data", "events.db"), join(copy, "events.db"));
    try {
      copyFileSync(join(gateway.dir, "data", "events.db-wal"), join(copy, "events.db-wal"));
    } catch {
      // no WAL to copy
    }
    const restarted = await startServer({ config: gateway.configPath, port: 0, host: "127.0.0.1", data: copy }, builtinPlugins, { logger: pino({ level: "silent" }) });
    try {
      const again = new OpenAI({ baseURL: `${restarted.url}/v1`, apiKey: "x", maxRetries: 0 });
      await again.responses.create({ model: "fake-model", input: "still there?", previous_response_id: first.id });
      expect(sentMessages().map((m) => m.content)).toEqual(["remember across restarts", "echo: remember across restarts", "still there?"]);
    } finally {
      await restarted.stop("test");
    }
  });
});
