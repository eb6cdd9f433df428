import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { EventLog } from "../../events/log.ts";
import { startFakeUpstream, streamText, type FakeUpstream } from "../support/fake-upstream.ts";
import { tempDir } from "../support/gateway.ts";

// A real server process: /health and /ready, then SIGTERM while a stream is in flight.

const ROOT = join(import.meta.dirname, "../..");
let upstream: FakeUpstream;
let proc: ReturnType<typeof Bun.spawn> | undefined;

beforeAll(() => {
  const encoder = new TextEncoder();
  upstream = startFakeUpstream((seen) => {
    if (!(seen.json as { stream?: boolean }).stream) return Response.json({ ok: true });
    const pieces = Array.from({ length: 10 }, (_, i) => `p${i} `);
    const events = streamText(pieces, { usage: { prompt_tokens: 1, completion_tokens: 10 } }).split(/(?<=\n\n)/);
    return new Response(new ReadableStream({
      async start(controller) {
        for (const event of events) {
          controller.enqueue(encoder.encode(event));
          await Bun.sleep(60);
        }
        controller.close();
      },
    }), { headers: { "content-type": "text/event-stream" } });
  });
});

afterAll(async () => {
  proc?.kill("SIGKILL");
  await upstream.stop();
});

test("health, readiness, and a graceful SIGTERM that lets an in-flight stream finish", async () => {
  const dir = tempDir();
  const config = join(dir, "sluice.yaml");
  writeFileSync(config, `log: { level: warn }\nproviders:\n  - { id: up, kind: openai, base_url: "${upstream.url}", models: [fake-model] }\n`);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  proc = Bun.spawn([process.execPath, join(ROOT, "sluice.ts"), "serve", "--config", config, "--port", String(port), "--data", join(dir, "data")], {
    cwd: dir, stdout: "ignore", stderr: "pipe",
  });
  const base = `http://127.0.0.1:${port}`;
  let healthy = false;
  for (let i = 0; i < 100 && !healthy; i++) {
    healthy = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (!healthy) await Bun.sleep(50);
  }
  expect(healthy).toBe(true);
  expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: "ok" });
  const ready = await fetch(`${base}/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: "ready", log: true });

  const response = await fetch(`${base}/v1/chat/completions`, {
    method: "POST", body: JSON.stringify({ model: "fake-model", stream: true, messages: [{ role: "user", content: "x" }] }),
  });
  const id = response.headers.get("x-sluice-request-id")!;
  const body = response.text();
  await Bun.sleep(150);
  proc.kill("SIGTERM");
  const text = await body;
  expect(text).toContain("p9 ");
  expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  const code = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "timeout")]);
  expect(code).toBe(0);
  // After the drain, new connections are refused.
  expect(await fetch(`${base}/health`).then(() => "answered", () => "refused")).toBe("refused");

  const log = EventLog.open(join(dir, "data", "events.db"), { readonly: true });
  try {
    // The request's terminal event (a sampled tokens.estimated may follow it, after the answer).
    expect(log.forRequest(id).map((e) => e.type).filter((t) => t !== "tokens.estimated").at(-1)).toBe("request.completed");
    const last = log.read(0, 10_000).at(-1)!;
    expect(last.type).toBe("server.stopped");
    expect(last.data).toEqual({ reason: "SIGTERM" });
  } finally {
    log.close();
  }
}, 30_000);
