// The kill -9 harness (RELIABILITY H3/T12/T13). A real `sluice serve` subprocess takes
// concurrent streaming and non-streaming load and is SIGKILLed at a random moment; the event
// log it leaves behind must hold a terminal event for every answer a client received in full,
// be gap-free and intact, and list exactly the killed-mid-flight requests as interrupted.
// The server is then restarted on the same data dir, and the log must carry on without a gap.
import { oneProvider } from "../support/gateway.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Subprocess } from "bun";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { summarize } from "../../core/cli/replay.ts";
import type { EventRecord } from "../../events/define.ts";
import { EventLog } from "../../events/log.ts";
import { completion, startFakeUpstream, streamText, type Behaviour, type FakeUpstream } from "../support/fake-upstream.ts";
import { parseSse } from "../support/sse.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ROUNDS = 5;
const CLIENTS = 16;
const TERMINAL = new Set(["request.completed", "request.failed", "request.cancelled"]);

/** Every subprocess this file started; afterAll kills whatever is still running. */
const live = new Set<Subprocess>();

let fake: FakeUpstream;
let dir: string;
let configPath: string;
let dataDir: string;

const encoder = new TextEncoder();

/** Answers like OpenAI, but slowly enough that a kill finds requests in flight. */
const slowBehaviour: Behaviour = async (seen) => {
  await Bun.sleep(Math.random() * 20);
  const json = seen.json as { model?: string; stream?: boolean; stream_options?: { include_usage?: boolean }; messages?: Array<{ content?: unknown }> };
  const last = json.messages?.at(-1)?.content;
  const text = `echo: ${typeof last === "string" ? last : JSON.stringify(last)}`;
  const model = json.model ?? "fake-model";
  if (!json.stream) return Response.json(completion(text, model));
  const usage = json.stream_options?.include_usage ? { prompt_tokens: 11, completion_tokens: 7 } : undefined;
  const events = streamText(text.match(/.{1,4}/gs) ?? [], { model, ...(usage ? { usage } : {}) }).split(/(?<=\n\n)/);
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = events.shift();
      if (next === undefined) {
        if (!cancelled) controller.close();
        return;
      }
      await Bun.sleep(2);
      if (cancelled) return;
      try {
        controller.enqueue(encoder.encode(next));
      } catch {
        cancelled = true;
      }
    },
    cancel() {
      cancelled = true;
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
};

function freePort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

interface Server {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** All the server wrote, once it has exited. */
  output: Promise<string>;
}

async function waitFor(url: string, path: string, proc: Subprocess, ms: number): Promise<number | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && proc.exitCode === null && proc.signalCode === null) {
    try {
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      await Bun.sleep(25);
    }
  }
  return undefined;
}

async function kill(server: Server): Promise<string> {
  server.proc.kill("SIGKILL");
  await server.proc.exited;
  live.delete(server.proc);
  return server.output;
}

async function startSluice(): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    const port = freePort();
    const proc = Bun.spawn(
      [process.execPath, "sluice.ts", "serve", "--config", configPath, "--host", "127.0.0.1", "--port", String(port), "--data", dataDir],
      { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    live.add(proc);
    const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]).then(([o, e]) => o + e);
    const server = { proc, url: `http://127.0.0.1:${port}`, output };
    const status = await waitFor(server.url, "/health", proc, 15_000);
    if (status === 200) return server;
    const text = await kill(server);
    // Another process may have taken the probed port in between: try another.
    if (attempt < 3 && text.includes("address already in use")) continue;
    throw new Error(`sluice did not become healthy (health ${status}, exit ${proc.exitCode ?? proc.signalCode}):\n${text}`);
  }
}

interface Load {
  stop: boolean;
  killed: boolean;
  acked: string[];
  sent: number;
  /** Failures while the server was alive: none expected. */
  unexpected: string[];
  /** Requests cut off by the kill. */
  cut: number;
}

function chat(url: string, content: string, stream: boolean): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content }], ...(stream ? { stream: true } : {}) }),
    signal: AbortSignal.timeout(10_000),
  });
}

/** Send one request; return its request id when the answer arrived complete and right. */
async function oneRequest(url: string, content: string, stream: boolean): Promise<string> {
  const res = await chat(url, content, stream);
  const id = res.headers.get("x-sluice-request-id");
  const text = await res.text();
  if (res.status !== 200) throw new Error(`status ${res.status}: ${text.slice(0, 300)}`);
  if (!id) throw new Error("no x-sluice-request-id header");
  if (stream) {
    if (!text.endsWith("data: [DONE]\n\n")) throw new Error(`stream did not end with [DONE]: …${text.slice(-200)}`);
    const said = parseSse(text)
      .filter((e) => e.data !== "[DONE]")
      .map((e) => (JSON.parse(e.data) as { choices: Array<{ delta?: { content?: string } }> }).choices[0]?.delta?.content ?? "")
      .join("");
    if (said !== `echo: ${content}`) throw new Error(`stream said ${JSON.stringify(said)}`);
  } else {
    const body = JSON.parse(text) as { choices: Array<{ message: { content: string } }> };
    if (body.choices[0]?.message.content !== `echo: ${content}`) throw new Error(`answer was ${text.slice(0, 300)}`);
  }
  return id;
}

async function clientLoop(url: string, load: Load, k: number, deadline: number): Promise<void> {
  for (let i = 0; !load.stop && Date.now() < deadline; i++) {
    const stream = (k + i) % 2 === 0;
    const content = `client ${k} message ${i}`;
    load.sent++;
    try {
      load.acked.push(await oneRequest(url, content, stream));
    } catch (error) {
      if (load.killed) {
        load.cut++;
        return;
      }
      load.unexpected.push(`${stream ? "stream" : "plain"}: ${(error as Error).message}`);
    }
  }
}

interface Verified {
  lastSeq: number;
  received: number;
  interrupted: string[];
  lost: string[];
}

/** Open the log the dead server left and check everything the durability rule promises. */
function verifyLog(acked: string[], previousLastSeq: number): Verified {
  const log = EventLog.open(join(dataDir, "events.db"), { readonly: true });
  try {
    const all: EventRecord[] = [...log.all()];
    expect(all.length).toBeGreaterThan(previousLastSeq);
    // seq is gap-free 1..N, and carries on from the previous run.
    const misplaced = all.filter((e, i) => e.seq !== i + 1).map((e) => e.seq);
    expect(misplaced).toEqual([]);
    // The new run's events start right after the previous run's last one, with its start-up.
    const startup = all.slice(previousLastSeq).map((e) => e.type);
    expect(startup).toContain("config.applied");
    expect(startup).toContain("server.started");
    expect(log.integrityCheck()).toBe("ok");
    expect(all.filter((e) => !EventLog.validate(e)).map((e) => `#${e.seq} ${e.type}`)).toEqual([]);

    const received = new Set<string>();
    const terminals = new Map<string, string[]>();
    const orphans: string[] = [];
    for (const event of all) {
      const request = (event.data as { request?: string }).request;
      if (!request) continue;
      if (event.type === "request.received") received.add(request);
      else if (!received.has(request)) orphans.push(`#${event.seq} ${event.type} ${request}`);
      if (TERMINAL.has(event.type)) terminals.set(request, [...(terminals.get(request) ?? []), event.type]);
    }
    // Rule part one: nothing about a request is on record before its request.received.
    expect(orphans).toEqual([]);
    // One terminal event per request at most.
    expect([...terminals].filter(([, types]) => types.length > 1)).toEqual([]);

    // Rule part two: every answer a client received in full has its terminal event.
    const lost = acked.filter((id) => !log.forRequest(id).some((e) => TERMINAL.has(e.type)));
    const notCompleted = acked.filter((id) => !log.forRequest(id).some((e) => e.type === "request.completed"));
    if (lost.length > 0) console.log(`LOST ${lost.length} acknowledged request(s) with no terminal event: ${lost.join(", ")}`);
    expect(lost).toEqual([]);
    expect(notCompleted).toEqual([]);

    const summary = summarize(log);
    expect(summary.firstSeq).toBe(1);
    expect(summary.lastSeq).toBe(all.length);
    expect(summary.events).toBe(all.length);
    expect(summary.gaps).toBe(0);
    expect(summary.invalid).toBe(0);
    const expected = [...received].filter((id) => !terminals.has(id)).sort();
    expect([...summary.requests.interrupted].sort()).toEqual(expected);
    const ackedSet = new Set(acked);
    expect(summary.requests.interrupted.filter((id) => ackedSet.has(id))).toEqual([]);
    return { lastSeq: all.length, received: received.size, interrupted: summary.requests.interrupted, lost };
  } finally {
    log.close();
  }
}

/** A stack trace in the server's output is a bug, whatever else happened. */
function expectNoStackTrace(output: string): void {
  const traces = output.split("\n").filter((line) => /^\s+at\s|\\n\s+at\s|"stack"/.test(line));
  expect(traces).toEqual([]);
}

beforeAll(() => {
  fake = startFakeUpstream(slowBehaviour);
  dir = mkdtempSync(join(tmpdir(), "sluice-crash-"));
  configPath = join(dir, "sluice.yaml");
  dataDir = join(dir, "data");
  writeFileSync(configPath, oneProvider(fake.url, "log: { level: warn }\n"));
});

afterAll(async () => {
  for (const proc of live) proc.kill("SIGKILL");
  await Promise.all([...live].map((proc) => proc.exited));
  live.clear();
  await fake?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("kill -9 mid-load", () => {
  it(`loses no acknowledged request over ${ROUNDS} crash rounds, and the log carries on after each restart`, { timeout: 120_000 }, async () => {
    let lastSeq = 0;
    let totalAcked = 0;
    let totalInterrupted = 0;
    let totalLost = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const started = performance.now();
      const server = await startSluice();
      let output: string | undefined;
      try {
        const ready = await fetch(`${server.url}/ready`);
        expect(ready.status).toBe(200);
        await ready.arrayBuffer();

        const load: Load = { stop: false, killed: false, acked: [], sent: 0, unexpected: [], cut: 0 };
        const killAfter = 300 + Math.random() * 1200;
        const deadline = Date.now() + killAfter + 15_000;
        const loops = Array.from({ length: CLIENTS }, (_, k) => clientLoop(server.url, load, k, deadline));
        await Bun.sleep(killAfter);
        load.killed = true;
        output = await kill(server);
        load.stop = true;
        await Promise.all(loops);

        expect(load.unexpected).toEqual([]);
        expect(load.acked.length).toBeGreaterThan(0);
        const verified = verifyLog(load.acked, lastSeq);
        console.log(
          `round ${round}: killed after ${Math.round(killAfter)} ms; sent ${load.sent}, acked ${load.acked.length}, cut by the kill ${load.cut}; ` +
          `log seq ${lastSeq + 1}…${verified.lastSeq} (${verified.received} received so far, ${verified.interrupted.length} interrupted); ` +
          `lost ${verified.lost.length}; ${Math.round(performance.now() - started)} ms`,
        );
        totalAcked += load.acked.length;
        totalInterrupted = verified.interrupted.length;
        totalLost += verified.lost.length;
        lastSeq = verified.lastSeq;
        expectNoStackTrace(output);
      } finally {
        if (output === undefined) await kill(server);
      }
    }

    // One last restart: ready again, new requests answered, seq carries on without a gap.
    const server = await startSluice();
    try {
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(200);
      await ready.arrayBuffer();
      const acked: string[] = [];
      for (let i = 0; i < 6; i++) acked.push(await oneRequest(server.url, `after the crashes ${i}`, i % 2 === 0));
      const output = await kill(server);
      const verified = verifyLog(acked, lastSeq);
      expect(verified.interrupted.length).toBe(totalInterrupted);
      expectNoStackTrace(output);
      console.log(
        `after ${ROUNDS} rounds: ${totalAcked} acked, ${totalLost} lost, ${totalInterrupted} interrupted in all; ` +
        `restart answered ${acked.length} more, log seq 1…${verified.lastSeq} gap-free`,
      );
    } finally {
      if (live.has(server.proc)) await kill(server);
    }
  });
});
