import { Database } from "bun:sqlite";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, type TestGateway } from "../support/gateway.ts";

// The acknowledgement rule, checked from outside the gateway through a second SQLite
// connection: what another process would find on disk at that moment.

let upstream: FakeUpstream;
let gateway: TestGateway;
let disk: Database;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gateway = await startGateway(oneProvider(upstream.url));
  disk = new Database(join(gateway.dir, "data", "events.db"), { readonly: true });
});

afterAll(async () => {
  disk.close();
  await gateway.close();
  await upstream.stop();
});

/** Event types on disk for a request, in seq order. */
const onDisk = (request: string) =>
  (disk.query("SELECT type FROM events WHERE request = ? ORDER BY seq").all(request) as Array<{ type: string }>).map((r) => r.type);

describe("durability rule", () => {
  test("request.received is on disk before the upstream is called", async () => {
    let seenOnDisk: string[] = [];
    upstream.behave((seen, request) => {
      // The request id is not sent upstream; find the newest received event instead.
      const row = disk.query("SELECT request FROM events WHERE type = 'request.received' ORDER BY seq DESC LIMIT 1").get() as { request: string };
      seenOnDisk = onDisk(row.request);
      return Response.json({ id: "c", object: "chat.completion", created: 1, model: "fake-model", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] });
    });
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] }) });
    expect(response.status).toBe(200);
    expect(seenOnDisk[0]).toBe("request.received");
    upstream.reset();
  });

  test("non-streaming: the terminal event is on disk when the response arrives", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] }) });
    await response.text();
    expect(onDisk(response.headers.get("x-sluice-request-id")!)).toContain("request.completed");
  });

  test("streaming: the terminal event is on disk before [DONE] reaches the client", async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", stream: true, messages: [{ role: "user", content: "a longer prompt" }] }) });
    const id = response.headers.get("x-sluice-request-id")!;
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let atDone: string[] | undefined;
    for (let i = 0; i < 1000; i++) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.includes("[DONE]") && !atDone) atDone = onDisk(id);
    }
    expect(atDone).toBeDefined();
    expect(atDone!.at(-1)).toBe("request.completed");
  });

  test("events nobody waits for still commit within milliseconds", async () => {
    const before = gateway.gw.log.lastSeq;
    const { PluginUnloaded } = await import("../../events/catalog/plugin.ts");
    void gateway.gw.log.append(PluginUnloaded, { plugin: "lazy-check", source: "test" });
    let found = false;
    for (let i = 0; i < 50 && !found; i++) {
      await Bun.sleep(5);
      found = (disk.query("SELECT count(*) AS n FROM events WHERE seq > ? AND type = 'plugin.unloaded'").get(before) as { n: number }).n === 1;
    }
    expect(found).toBe(true);
  });
});
