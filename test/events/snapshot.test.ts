import { join } from "node:path";
import { rmSync } from "node:fs";
import pino from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { startServer, type Running } from "../../core/cli/serve.ts";
import { RequestCompleted, RequestReceived } from "../../events/catalog/request.ts";
import type { EventRecord } from "../../events/define.ts";
import { EventLog } from "../../events/log.ts";
import {
  LiveProjections, projections, rebuild, snapshotVersion, statesAt, type ProjectionStates, type SnapshotReport,
} from "../../events/projections/index.ts";
import type { Projection } from "../../events/projections/projection.ts";
import {
  decodeStates, encodeStates, listSnapshots, loadSnapshot, projectionsVersion, SnapshotError, writeSnapshot,
} from "../../events/snapshot.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { defaultBehaviour, startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { tempDir } from "../support/gateway.ts";

// Projection snapshots: the newest snapshot plus the events after it give exactly the state a
// fold from event 1 gives, on a real gateway's log; a snapshot made by other code (another
// version) or a damaged one is ignored, never applied.

const ADMIN = "admin-snapshot-test-0123456789abcdef";
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const quiet = pino({ level: "silent" });

function config(url: string): string {
  return `admin_key: ${ADMIN}
providers:
  - id: local
    kind: openai
    base_url: ${url}
    api_key: sk-test-provider-key-123456
    models: [fake-model, other-model]
  - id: backup
    kind: openai
    base_url: ${url}
    api_key: sk-test-provider-key-654321
    models: [fake-model]
routes:
  - { name: smart, targets: [local/fake-model, backup/fake-model] }
`;
}

/** An upstream that fails on "fail" (500, so the route falls back) and otherwise echoes. */
function upstream(): FakeUpstream {
  const up = startFakeUpstream((seen, request) => {
    if (seen.body.includes("fail-always")) return new Response(JSON.stringify({ error: { message: "down" } }), { status: 500 });
    if (seen.body.includes("fail-local") && seen.headers.authorization?.endsWith("123456")) {
      return new Response(JSON.stringify({ error: { message: "busy" } }), { status: 429, headers: { "retry-after": "0" } });
    }
    return defaultBehaviour(seen, request);
  });
  cleanups.push(() => up.stop());
  return up;
}

async function start(dir: string, url: string): Promise<Running> {
  const path = join(dir, "sluice.yaml");
  await Bun.write(path, config(url));
  return startServer({ config: path, port: 0, host: "127.0.0.1", data: join(dir, "data") }, builtinPlugins, { logger: quiet });
}

/** Mixed traffic: dialects, streams, fallbacks, failures, a caller key, stored responses. */
async function traffic(url: string, round: number, key?: string): Promise<void> {
  const auth: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify(body) }).then((r) => r.text());
  const bodies: Array<[string, unknown]> = [
    ["/v1/chat/completions", { model: "fake-model", messages: [{ role: "user", content: `hello ${round}` }] }],
    ["/v1/chat/completions", { model: "smart", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: `stream ${round}` }] }],
    ["/v1/chat/completions", { model: "smart", messages: [{ role: "user", content: `fail-local ${round}` }] }],
    ["/v1/chat/completions", { model: "fake-model", messages: [{ role: "user", content: `fail-always ${round}` }] }],
    ["/v1/chat/completions", { model: "missing-model", messages: [{ role: "user", content: "x" }] }],
    ["/v1/messages", { model: "fake-model", max_tokens: 50, messages: [{ role: "user", content: `anthropic ${round}` }] }],
    ["/v1/responses", { model: "fake-model", input: `remember ${round}` }],
  ];
  for (const [path, body] of bodies) await post(path, body);
}

function foldAll(log: EventLog): ProjectionStates {
  return rebuild(log.range(0, log.lastSeq));
}

describe("projection snapshots", () => {
  test("a real gateway's log: snapshot + tail == rebuild from event 1, live == rebuild, and a restart restores from the snapshot", async () => {
    const dir = tempDir("sluice-snapshot-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const up = upstream();
    const running = await start(dir, up.url);
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : running.stop("test")));
    const made = await fetch(`${running.url}/api/keys`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ name: "snap", budget_usd: 5 }) });
    expect(made.status).toBe(201);
    const key = ((await made.json()) as { key: string }).key;
    for (let round = 0; round < 3; round++) await traffic(running.url, round, key);

    // A snapshot from the live states, mid-log (as the periodic one is written).
    const mid = running.gw.projections.writeSnapshot("periodic");
    expect(mid?.ok).toBe(true);
    const midSeq = mid!.ok ? mid!.seq : 0;
    expect(midSeq).toBe(running.gw.log.lastSeq);
    for (let round = 3; round < 6; round++) await traffic(running.url, round, key);
    await running.gw.log.commit(RequestReceived, { request: "unfinished", dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "fake-model", stream: false, candidates: [] });

    // Live state == rebuild from event 1 (SPEC §5), before any restart.
    const log = running.gw.log;
    expect(running.gw.projections.lastSeq).toBe(log.lastSeq);
    expect(running.gw.projections.snapshot()).toEqual(foldAll(log));

    // The mid snapshot + the events after it == rebuild from event 1.
    const snapshot = loadSnapshot(log, projections, { maxSeq: midSeq })!;
    expect(snapshot.seq).toBe(midSeq);
    const tail = log.range(midSeq, log.lastSeq);
    const fromSnapshot = rebuildFrom(snapshot.states, tail);
    expect(fromSnapshot).toEqual(foldAll(log));
    expect(log.lastSeq - midSeq).toBeGreaterThan(20);
    // Every state survives its JSON round trip (the requests index is rebuilt over the same rows).
    const states = running.gw.projections.snapshot() as unknown as Record<string, unknown>;
    const decoded = decodeStates(encodeStates(states, projections), projections) as unknown as ProjectionStates;
    expect(decoded).toEqual(states);
    expect(decoded.requests.byId.get(decoded.requests.rows[0]!.id)).toBe(decoded.requests.rows[0]);
    expect(decoded.keys.spend).not.toEqual({});
    expect(Object.keys(decoded.conversations.turns).length).toBeGreaterThan(0);
    expect(Object.keys(decoded.health.targets).length).toBeGreaterThan(0);

    // A graceful stop writes a snapshot at the last event; a restart starts from it.
    const before = foldAll(log);
    await running.stop("test");
    stopped = true;
    const dataLog = EventLog.open(join(dir, "data", "events.db"));
    const lastBeforeRestart = dataLog.lastSeq;
    const snapshots = listSnapshots(dataLog, projections);
    expect(snapshots[0]).toMatchObject({ seq: lastBeforeRestart, current: true });
    const restored = new LiveProjections(dataLog, { snapshotOnStop: false });
    expect(restored.restored).toMatchObject({ from: "snapshot", snapshotSeq: lastBeforeRestart, folded: 0 });
    expect(restored.snapshot()).toEqual(foldAll(dataLog));
    restored.stop();
    dataLog.close();
    expect(before.usage.totals.requests).toBeGreaterThan(30);

    const again = await start(dir, up.url);
    cleanups.push(() => again.stop("test"));
    expect(again.gw.projections.restored.from).toBe("snapshot");
    expect(again.gw.projections.restored.snapshotSeq).toBe(lastBeforeRestart);
    await traffic(again.url, 9, key);
    expect(again.gw.projections.snapshot()).toEqual(foldAll(again.gw.log));
  });

  test("a snapshot of another version, or a damaged one, is ignored: the fold starts from event 1", async () => {
    const dir = tempDir("sluice-snapshot-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = EventLog.open(join(dir, "events.db"));
    cleanups.push(() => log.close());
    for (let i = 0; i < 20; i++) {
      void log.append(RequestReceived, { request: `r${i}`, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "m", stream: false, candidates: ["p/m"] });
      void log.append(RequestCompleted, { request: `r${i}`, target: "p/m", provider: "p", model: "m", status: 200, attempts: 1, stream: false, ttfb_ms: 5, total_ms: 9, usage: { input_tokens: 3, output_tokens: 4 } });
    }
    log.flush();
    const truth = foldAll(log);

    // Made by other code: same shape, different numbers, another version.
    const forged = rebuild(log.range(0, log.lastSeq)) as unknown as Record<string, unknown>;
    (forged.usage as ProjectionStates["usage"]).totals.requests = 999;
    const json = encodeStates(forged, projections);
    log.connection.query("INSERT INTO snapshots (version, seq, at, states) VALUES (?1, ?2, ?3, ?4)").run("0".repeat(64), log.lastSeq, Date.now(), json);
    expect(listSnapshots(log, projections)).toEqual([expect.objectContaining({ seq: log.lastSeq, current: false })]);
    expect(loadSnapshot(log, projections)).toBeUndefined();
    const live = new LiveProjections(log, { snapshotOnStop: false });
    expect(live.restored.from).toBe("events");
    expect(live.get("usage").totals.requests).toBe(20);
    expect(live.snapshot()).toEqual(truth);
    live.stop();

    // This version, but damaged: skipped for the next older good one, or for event 1.
    log.connection.query("INSERT INTO snapshots (version, seq, at, states) VALUES (?1, ?2, ?3, ?4)").run(snapshotVersion(), log.lastSeq, Date.now(), "{not json");
    expect(loadSnapshot(log, projections)).toBeUndefined();
    const older = log.read(0, 10).at(-1)!.seq;
    writeSnapshot(log, older, rebuild(log.read(0, 10)) as unknown as Record<string, unknown>, projections);
    const used = statesAt(log);
    expect(used).toMatchObject({ from: "snapshot", snapshotSeq: older, folded: log.lastSeq - older });
    expect(used.states).toEqual(truth);

    // A snapshot ahead of the log (a log restored from an older copy) is never used.
    writeSnapshot(log, log.lastSeq + 5, forged, projections);
    const ahead = statesAt(log);
    expect(ahead.snapshotSeq).toBeLessThanOrEqual(log.lastSeq);
    expect(ahead.states).toEqual(truth);
  });

  test("the version digest changes with the projection code", () => {
    const base = projectionsVersion(projections);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(projectionsVersion([...projections])).toBe(base); // same code, same version
    const changed = projections.map((p) => (p.name === "usage" ? { ...p, evolve: (s: unknown, e: EventRecord) => (p as Projection<unknown>).evolve(s, e) } : p));
    expect(projectionsVersion(changed as never)).not.toBe(base);
  });

  test("a state that is not plain JSON is refused, not written as {}", () => {
    const odd: Projection<{ seen: Map<string, number> }> = { name: "odd", initial: () => ({ seen: new Map() }), evolve: (s) => s };
    expect(() => encodeStates({ odd: odd.initial() }, [odd as Projection<unknown>])).toThrow(SnapshotError);
    expect(() => encodeStates({ odd: odd.initial() }, [odd as Projection<unknown>])).toThrow(/odd: \.seen is a Map/);
  });

  test("periodic snapshots: after every N events, in a timer after the commit, reported; a restart folds only the tail", async () => {
    const dir = tempDir("sluice-snapshot-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "events.db");
    const log = EventLog.open(path);
    const reports: SnapshotReport[] = [];
    const live = new LiveProjections(log, { snapshotEvery: 100, onSnapshot: (r) => reports.push(r) });
    for (let i = 0; i < 260; i++) {
      await log.append(RequestReceived, { request: `r${i}`, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "m", stream: false, candidates: [] });
    }
    for (let i = 0; i < 50 && reports.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(reports.map((r) => [r.ok, r.reason, r.seq])).toEqual([[true, "periodic", 100], [true, "periodic", 200]]);
    const first = reports[0]!;
    if (first.ok) expect(first.bytes).toBeGreaterThan(1000);
    live.stop(); // a stop snapshot at 260
    expect(reports.at(-1)).toMatchObject({ ok: true, reason: "stop", seq: 260 });
    // Two kept per version.
    expect(listSnapshots(log, projections).map((s) => s.seq)).toEqual([260, 200]);
    log.close();

    const reopened = EventLog.open(path);
    await reopened.append(RequestReceived, { request: "late", dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "m", stream: false, candidates: [] });
    const next = new LiveProjections(reopened, { snapshotOnStop: false });
    expect(next.restored).toMatchObject({ from: "snapshot", snapshotSeq: 260, folded: 1 });
    expect(next.snapshot()).toEqual(foldAll(reopened));
    next.stop();
    reopened.close();
  });
});

function rebuildFrom(states: Record<string, unknown>, events: Iterable<EventRecord>): ProjectionStates {
  for (const event of events) {
    for (const projection of projections) states[projection.name] = (projection as Projection<unknown>).evolve(states[projection.name], event);
  }
  return states as unknown as ProjectionStates;
}
