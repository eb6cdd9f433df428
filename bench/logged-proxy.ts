// The minimal proxy plus Sluice's event log and nothing else of Sluice: the floor of the bench.
//   bun bench/logged-proxy.ts <port> <upstream origin> <data dir>
// Per request it records what Sluice records (request.received, route.decided, attempt.started,
// attempt.succeeded, request.completed: validated, group-committed to events.db, durability
// normal) under the same durability rule (on record before the upstream is called; the final
// event committed before the answer's last byte), with every projection folded live. No
// routing, decoding, compressors, timers or checks: the bench compares it with the minimal proxy
// (what the log costs) and with Sluice (what the rest of the gateway costs).
// Prints "PORT <n>" on stdout once listening.
import { join } from "node:path";
import { AttemptStarted, AttemptSucceeded, RequestCompleted, RequestReceived } from "../events/catalog/request.ts";
import { RouteDecided } from "../events/catalog/routing.ts";
import { EventLog } from "../events/log.ts";
import { LiveProjections } from "../events/projections/index.ts";

const port = Number(process.argv[2] ?? 0);
const upstream = (process.argv[3] ?? "http://127.0.0.1:9000").replace(/\/+$/, "");
const dataDir = process.argv[4] ?? ".";

const log = EventLog.open(join(dataDir, "events.db"), { durability: "normal" });
const projections = new LiveProjections(log, { snapshotOnStop: false });
let inFlight = 0;
const decoder = new TextDecoder();
const USAGE = /"prompt_tokens"\s*:\s*(\d+)\s*,\s*"completion_tokens"\s*:\s*(\d+)/;

function usageOf(text: string): { input_tokens: number; output_tokens: number } | undefined {
  const match = USAGE.exec(text);
  return match ? { input_tokens: Number(match[1]), output_tokens: Number(match[2]) } : undefined;
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 0,
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    const started = performance.now();
    const id = `req_${Bun.randomUUIDv7("hex").replaceAll("-", "")}`;
    inFlight++;
    let settled = false;
    const settle = () => {
      if (!settled) inFlight--;
      settled = true;
    };
    request.signal.addEventListener("abort", settle, { once: true }); // a client gone mid-stream
    try {
      const raw = await request.text();
      const body = JSON.parse(raw) as { model: string; stream?: boolean };
      const target = `up/${body.model}`;
      const stream = body.stream === true;
      void log.append(RequestReceived, { request: id, dialect: "openai-chat", endpoint: url.pathname, model: body.model, stream, candidates: [target] });
      await log.commit(RouteDecided, { request: id, strategy: "fallback", input_tokens: 0, order: [target], skipped: [] }, { alone: inFlight === 1 });
      void log.append(AttemptStarted, { request: id, attempt: 1, target, provider: "up", model: body.model, passthrough: true });
      const attempt = performance.now();
      const answer = await fetch(upstream + url.pathname, {
        method: "POST", headers: { "content-type": "application/json" }, body: raw, signal: request.signal,
      });
      void log.append(AttemptSucceeded, { request: id, attempt: 1, target, provider: "up", status: answer.status, ttfb_ms: performance.now() - attempt });
      const completed = (usage: ReturnType<typeof usageOf>) => {
        const total = performance.now() - started;
        return log.commit(RequestCompleted, {
          request: id, target, provider: "up", model: body.model, status: answer.status, attempts: 1, stream,
          ttfb_ms: total, total_ms: total, ...(usage ? { usage } : {}),
        }, { alone: inFlight === 1 });
      };
      const headers = { "content-type": answer.headers.get("content-type") ?? "application/json", "x-sluice-request-id": id };
      if (!stream || !answer.body) {
        const text = await answer.text();
        await completed(usageOf(text));
        settle();
        return new Response(text, { status: answer.status, headers });
      }
      // Streamed: bytes go through as they come; the last read is held until the final event is committed.
      let held: Uint8Array | undefined;
      const passed = answer.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          if (held) controller.enqueue(held);
          held = chunk;
        },
        async flush(controller) {
          await completed(held ? usageOf(decoder.decode(held)) : undefined);
          settle();
          if (held) controller.enqueue(held);
        },
      }));
      return new Response(passed, { status: answer.status, headers });
    } catch (error) {
      settle();
      return new Response(String(error), { status: 500 });
    }
  },
});

process.on("SIGTERM", () => {
  void server.stop(true).finally(() => {
    projections.stop();
    log.close();
    process.exit(0);
  });
});
console.log(`PORT ${server.port}`);
