// CPU per request that Sluice adds on top of the least a proxy does: `bun run bench:overhead`.
//
// bench/proxy.ts measures throughput over real sockets, with the client, upstream and proxy
// sharing two cores: the right end-to-end figure, but too noisy to tell a 20 µs change from
// another program's load. This bench isolates the gateway's own work. One process runs both
// handlers in turn, called directly (no HTTP listener in front, so no socket cost on either side):
//   minimal  fetch the upstream with the client's body, return its body (bench/minimal-proxy.ts's work)
//   sluice   the gateway's Elysia app (`app.handle`): the whole pipeline, events committed to a
//            real events.db (durability normal), projections and metrics live
// against the same fake upstream (bench/upstream-server.ts, its own process), at a closed-loop
// concurrency, and prints the process CPU time per request of each (user + system, all threads:
// the WAL checkpoint worker counts) and the difference: what Sluice costs per request.
//
// Knobs (env): OVERHEAD_REQUESTS (per round, default 4000), OVERHEAD_ROUNDS (default 9),
// OVERHEAD_CONCURRENCY (default 32), OVERHEAD_STREAM=1 (streaming, 50 chunks).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { startServer } from "../core/cli/serve.ts";
import { createApp } from "../core/server/app.ts";
import { builtinPlugins } from "../plugins/builtin.ts";

const ROOT = resolve(import.meta.dir, "..");
const REQUESTS = Number(process.env.OVERHEAD_REQUESTS ?? 2000);
const ROUNDS = Number(process.env.OVERHEAD_ROUNDS ?? 9);
const CONCURRENCY = Number(process.env.OVERHEAD_CONCURRENCY ?? 32);
const STREAM = process.env.OVERHEAD_STREAM === "1";

const upstream = Bun.spawn([process.execPath, join(ROOT, "bench/upstream-server.ts"), "0", "50", "none"], { stdout: "pipe", stderr: "inherit" });
const dir = mkdtempSync(join(tmpdir(), "sluice-overhead-"));
let stopGateway: (() => Promise<void>) | undefined;

async function main(): Promise<void> {
  const reader = upstream.stdout.getReader();
  let text = "";
  for (let i = 0; i < 100 && !/PORT (\d+)/.test(text); i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const port = Number(/PORT (\d+)/.exec(text)?.[1]);
  if (!port) throw new Error("the fake upstream did not start");
  const origin = `http://127.0.0.1:${port}`;

  const configPath = join(dir, "sluice.yaml");
  writeFileSync(configPath, `durability: normal
log:
  level: silent
providers:
  - id: up
    kind: openai
    base_url: ${origin}/v1
    api_key: sk-bench-provider-key
    models: [m]
`);
  const running = await startServer(
    { config: configPath, port: 0, host: "127.0.0.1", data: join(dir, "data") },
    builtinPlugins,
    { logger: pino({ level: "silent" }) },
  );
  stopGateway = () => running.stop("bench");
  const app = createApp(running.gw);

  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "Say hello in one short sentence." }], ...(STREAM ? { stream: true } : {}) });
  const request = () => new Request("http://localhost/v1/chat/completions", {
    method: "POST", headers: { "content-type": "application/json", authorization: "Bearer sk-client" }, body,
  });
  const minimal = async (incoming: Request): Promise<Response> => {
    const answer = await fetch(`${origin}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" }, body: await incoming.arrayBuffer(),
    });
    return new Response(answer.body, { status: answer.status, headers: { "content-type": answer.headers.get("content-type") ?? "application/json" } });
  };
  const sluice = (incoming: Request) => app.handle(incoming);

  async function round(handler: (r: Request) => Promise<Response>): Promise<{ cpuUs: number; wallMs: number }> {
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < REQUESTS) {
        next++;
        const response = await handler(request());
        await response.text();
        if (response.status !== 200) failed++;
      }
    };
    Bun.gc(true);
    const cpu = process.cpuUsage();
    const wall = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const used = process.cpuUsage(cpu);
    if (failed > 0) throw new Error(`${failed} requests failed`);
    return { cpuUs: (used.user + used.system) / REQUESTS, wallMs: performance.now() - wall };
  }

  // Warm both paths (JIT, connection pool, SQLite pages).
  await round(minimal);
  await round(sluice);
  const figures = { minimal: [] as number[], sluice: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    figures.minimal.push((await round(minimal)).cpuUs);
    figures.sluice.push((await round(sluice)).cpuUs);
  }
  // The least of the rounds: other programs on the machine only ever add to a round's CPU time
  // (cache misses, migrations), so the minimum is the figure nearest the program's own cost.
  const least = (xs: number[]) => Math.min(...xs);
  const m = least(figures.minimal);
  const s = least(figures.sluice);
  console.log(`Sluice CPU overhead — ${STREAM ? "streaming (50 chunks)" : "non-streaming"}, ${CONCURRENCY} concurrent, ${REQUESTS} requests × ${ROUNDS} rounds, bun ${Bun.version}`);
  console.log(`  minimal handler  ${m.toFixed(1)} µs/req   (rounds: ${figures.minimal.map((x) => x.toFixed(0)).join(", ")})`);
  console.log(`  sluice app       ${s.toFixed(1)} µs/req   (rounds: ${figures.sluice.map((x) => x.toFixed(0)).join(", ")})`);
  console.log(`  added by sluice  ${(s - m).toFixed(1)} µs/req   (${(s / m).toFixed(2)}x the minimal handler's CPU)`);
}

try {
  await main();
} finally {
  await stopGateway?.().catch(() => {});
  upstream.kill();
  rmSync(dir, { recursive: true, force: true });
}
