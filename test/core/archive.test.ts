import { Database } from "bun:sqlite";
import { existsSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { archive, parseBefore } from "../../core/cli/archive.ts";
import { summarize } from "../../core/cli/replay.ts";
import { startServer, type Running } from "../../core/cli/serve.ts";
import { archiveEvents, EventChain, planArchive } from "../../events/archive.ts";
import { KeyCreated } from "../../events/catalog/key.ts";
import { RequestCompleted, RequestReceived } from "../../events/catalog/request.ts";
import { ServerStarted, ServerStopped } from "../../events/catalog/server.ts";
import type { EventRecord } from "../../events/define.ts";
import { EventLog, EventLogError } from "../../events/log.ts";
import { LiveProjections, projections, rebuild, statesAt } from "../../events/projections/index.ts";
import { listSnapshots, writeSnapshot } from "../../events/snapshot.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { defaultBehaviour, startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { ROOT, expectOneLine, sluice } from "../support/cli.ts";
import { oneProvider, tempDir } from "../support/gateway.ts";

// `sluice archive --before DATE` on a real gateway's log, beside the running gateway: the cut
// moves back so no request is split, the gateway keeps serving and seq goes on, replay over
// archive + live log equals replay before archiving, the archive file replays on its own, and a
// restart restores the same state (from a snapshot, or from the archive files when no snapshot
// of this code's version is there).

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quiet = pino({ level: "silent" });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Answers "slow …" after 600 ms, "fail …" with a 500, everything else at once. */
function upstream(): FakeUpstream {
  const up = startFakeUpstream(async (seen, request) => {
    if (seen.body.includes("slow")) await sleep(600);
    if (seen.body.includes("fail")) return new Response(JSON.stringify({ error: { message: "down" } }), { status: 500 });
    return defaultBehaviour(seen, request);
  });
  cleanups.push(() => up.stop());
  return up;
}

async function start(dir: string, url: string): Promise<Running> {
  const path = join(dir, "sluice.yaml");
  await Bun.write(path, oneProvider(url));
  return startServer({ config: path, port: 0, host: "127.0.0.1", data: join(dir, "data") }, builtinPlugins, { logger: quiet });
}

async function chat(url: string, content: string, stream = false): Promise<Response> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({ model: content.startsWith("missing") ? "missing-model" : "fake-model", stream, messages: [{ role: "user", content }] }),
  });
  await response.clone().text();
  return response;
}

async function burst(url: string, label: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    await chat(url, kind === 2 ? `fail ${label}${i}` : kind === 3 ? `missing ${label}${i}` : `${label}${i}`, kind === 1);
  }
}

/** Requests from a few clients until stopped (bounded), counting statuses. */
function steadyLoad(url: string, workers = 2, max = 2_000) {
  let stopped = false;
  let sent = 0;
  const statuses: number[] = [];
  const run = async () => {
    while (!stopped && sent < max) {
      sent++;
      try {
        statuses.push((await chat(url, `load ${sent}`, sent % 2 === 0)).status);
      } catch {
        statuses.push(0);
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, run));
  return {
    statuses,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** Events up to `upTo`, from a source that yields in seq order. */
function upTo(source: { all(): Iterable<EventRecord> }, last: number) {
  return {
    *all() {
      for (const event of source.all()) {
        if (event.seq > last) return;
        yield event;
      }
    },
  };
}

function readonly(path: string): EventLog {
  const log = EventLog.open(path, { readonly: true });
  cleanups.push(() => log.close());
  return log;
}

describe("sluice archive", () => {
  test("beside a live gateway: the cut keeps a straddling request whole, seq goes on, replay and restart see the same state", async () => {
    const dir = tempDir("sluice-archive-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = join(dir, "data");
    const livePath = join(dataDir, "events.db");
    const up = upstream();
    let running = await start(dir, up.url);
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : running.stop("test")));

    // Before the date: a burst, then a slow request that is still running at the date.
    await burst(running.url, "a", 12);
    await sleep(50); // events a request records after its answer (token estimates) are in
    const slow = chat(running.url, "slow straddle");
    const straddleId = await (async () => {
      for (let i = 0; i < 200; i++) {
        const row = running.gw.projections.get("requests").rows.find((r) => r.outcome === "in_flight");
        if (row) return row.id;
        await sleep(10);
      }
      throw new Error("the slow request never arrived");
    })();
    await sleep(100);
    const date = Date.now();
    await sleep(5);
    expect((await slow).status).toBe(200);
    // After the date.
    await burst(running.url, "b", 8);

    const straddle = running.gw.log.forRequest(straddleId);
    // A request wholly before the date, to find again once it is archived.
    const early = [...running.gw.log.all()].find((e) => e.type === "request.received")!;
    const earlyId = (early.data as { request: string }).request;
    const earlyTimeline = running.gw.log.forRequest(earlyId);
    expect(straddle[0]!.at).toBeLessThan(date);
    expect(straddle.at(-1)!.at).toBeGreaterThanOrEqual(date);
    const lastBefore = running.gw.log.lastSeq;
    const before = summarize(upTo(readonly(livePath), lastBefore));
    expect(before.gaps).toBe(0);
    expect(before.requests.received).toBeGreaterThanOrEqual(15);

    // Archive with the real CLI, in its own process, while the gateway serves a steady load.
    const load = steadyLoad(running.url);
    await sleep(100);
    const result = await sluice(["archive", "--before", new Date(date).toISOString(), "--data", dataDir]);
    await sleep(100);
    await load.stop();
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const boundary = straddle[0]!.seq - 1;
    const file = join(dataDir, "archive", `events-1-${boundary}.db`);
    expect(result.stdout.trim().split("\n")).toHaveLength(1);
    expect(result.stdout).toContain(`moved ${boundary} events (seq 1…${boundary}`);
    expect(result.stdout).toContain(file);
    expect(result.stdout).toContain(`keep request ${straddleId} whole`);
    // The gateway kept serving throughout.
    expect(load.statuses.length).toBeGreaterThan(0);
    expect(load.statuses.every((s) => s === 200)).toBe(true);

    // The archive file: 0600, intact, exactly events 1…boundary; the live log starts after it.
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const raw = new Database(file, { readonly: true, strict: true });
    expect((raw.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok");
    expect(raw.query("SELECT count(*) AS n, min(seq) AS first, max(seq) AS last FROM events").get()).toEqual({ n: boundary, first: 1, last: boundary });
    raw.close();
    expect(running.gw.log.firstSeq).toBe(boundary + 1);
    // The straddling request is whole in the live log; an archived one is found in its archive.
    expect(running.gw.log.forRequest(straddleId)).toEqual(straddle);
    expect(earlyTimeline[0]!.seq).toBeLessThanOrEqual(boundary);
    expect(running.gw.log.forRequest(earlyId)).toEqual(earlyTimeline);
    // GET /api/events reads archived seqs from the archive.
    const { readEvents } = await import("../../core/server/api-log.ts");
    expect(readEvents(running.gw.log, 0, 3, running.gw.log.lastSeq).map((e) => e.seq)).toEqual([1, 2, 3]);

    // seq goes on: a new request after the archive gets the next seq, no gap anywhere.
    const lastAfterLoad = running.gw.log.lastSeq;
    expect((await chat(running.url, "after archive")).status).toBe(200);
    expect(running.gw.log.read(lastAfterLoad, 1)[0]!.seq).toBe(lastAfterLoad + 1);
    const chain = EventChain.forDataDir(dataDir);
    cleanups.push(() => chain.close());
    expect(chain.parts.map((p) => [p.firstSeq, p.lastSeq])).toEqual([[1, boundary], [boundary + 1, running.gw.log.lastSeq]]);
    expect(chain.gaps()).toEqual([]);
    const seqs = [...chain.all()].map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: running.gw.log.lastSeq }, (_, i) => i + 1));

    // Replay over archive + live log == replay before archiving, over the same events.
    expect(summarize(upTo(chain, lastBefore))).toEqual(before);
    const whole = summarize(chain);
    expect(whole.gaps).toBe(0);
    expect(whole.firstSeq).toBe(1);
    // The live projections (never restarted) == a fold of archive + live log.
    expect(running.gw.projections.snapshot()).toEqual(rebuild(chain.all()));

    // The archive replays on its own, and with the live log as one log.
    const alone = await sluice(["replay", "--log", file]);
    expect(alone.code).toBe(0);
    expect(alone.stdout).toContain(`events     ${boundary} (seq 1…${boundary}, 0 gaps, 0 invalid)`);
    const both = await sluice(["replay", "--log", livePath, "--log", file]);
    expect(both.code).toBe(0);
    expect(both.stdout).toMatch(/events {5}\d+ \(seq 1…\d+, 0 gaps, 0 invalid\)/);
    expect(both.stdout).toContain("2 files read as one");
    const data = await sluice(["replay", "--data", dataDir, "--json"]);
    expect(data.code).toBe(0);
    expect(JSON.parse(data.stdout)).toMatchObject({ firstSeq: 1, gaps: 0 });
    const liveOnly = await sluice(["replay", "--log", livePath]);
    expect(liveOnly.stdout).toContain(`note       seq 1…${boundary} not read`);
    const timeline = await sluice(["replay", "--data", dataDir, "--request", (straddle[0]!.data as { request: string }).request]);
    expect(timeline.code).toBe(0);

    // Restart: the same state, restored from the snapshot the stop wrote.
    const liveState = running.gw.projections.snapshot();
    await running.stop("test");
    stopped = true;
    const afterStop = EventChain.forDataDir(dataDir);
    cleanups.push(() => afterStop.close());
    const truth = rebuild(afterStop.all());
    expect(truth.usage).toEqual(liveState.usage);
    running = await start(dir, up.url);
    stopped = false;
    expect(running.gw.projections.restored.from).toBe("snapshot");
    expect(running.gw.projections.restored.readArchives).toBe(false);
    const restartedChain = EventChain.forDataDir(dataDir);
    cleanups.push(() => restartedChain.close());
    expect(running.gw.projections.snapshot()).toEqual(rebuild(restartedChain.all()));
    await running.stop("test");
    stopped = true;

    // No snapshot this code can use (an upgrade): the fold reads the archive file, then the live log.
    const log = EventLog.open(livePath);
    cleanups.push(() => log.close());
    log.connection.run("DELETE FROM snapshots");
    const full = statesAt(log);
    expect(full).toMatchObject({ from: "events", readArchives: true, folded: log.lastSeq });
    const finalChain = EventChain.forDataDir(dataDir);
    cleanups.push(() => finalChain.close());
    expect(full.states).toEqual(rebuild(finalChain.all()));
    // …and if the archive file is gone, start-up says which events are missing rather than start wrong.
    renameSync(file, `${file}.moved`);
    expect(() => new LiveProjections(log)).toThrow(EventLogError);
    expect(() => statesAt(log)).toThrow(new RegExp(`events 1…${boundary} are not in .*events\\.db nor in its archives .*missing`));
    renameSync(`${file}.moved`, file);
    expect(statesAt(log).states).toEqual(full.states);
  });

  test("a second archive continues where the first ended; refusals are one line, exit 2", async () => {
    const dir = tempDir("sluice-archive-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = join(dir, "data");
    const up = upstream();
    const running = await start(dir, up.url);
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : running.stop("test")));
    await burst(running.url, "a", 6);
    await sleep(5);
    const first = Date.now();
    await sleep(5);
    await burst(running.url, "b", 6);
    await sleep(5);
    const second = Date.now();
    await sleep(5);
    await burst(running.url, "c", 2);
    await running.stop("test");
    stopped = true;

    // In-process (the same code as the CLI), no server running.
    const one = archive({ dataDir, before: first });
    expect(one.firstSeq).toBe(1);
    expect(one.heldBy).toBeUndefined();
    // The server's periodic snapshots after it (newer ones) do not push out the one at the cut, so
    // the next archive needs no archive file: move it away meanwhile.
    {
      const log = EventLog.open(join(dataDir, "events.db"));
      for (const back of [3, 2, 1, 0]) writeSnapshot(log, log.lastSeq - back, statesAt(log, log.lastSeq - back).states as never, projections);
      expect(listSnapshots(log, projections).map((x) => x.seq)).toEqual([log.lastSeq, log.lastSeq - 1, one.boundary]);
      log.close();
    }
    renameSync(one.file, `${one.file}.away`);
    const two = archive({ dataDir, before: second, to: join(dir, "second.db") });
    renameSync(`${one.file}.away`, one.file);
    expect(two.firstSeq).toBe(one.boundary + 1);
    expect(existsSync(join(dir, "second.db"))).toBe(true);
    const chain = EventChain.forDataDir(dataDir);
    cleanups.push(() => chain.close());
    expect(chain.parts.map((p) => p.path)).toEqual([one.file, join(dir, "second.db"), join(dataDir, "events.db")]);
    expect(chain.gaps()).toEqual([]);
    const log = EventLog.open(join(dataDir, "events.db"));
    cleanups.push(() => log.close());
    log.connection.run("DELETE FROM snapshots");
    expect(statesAt(log).states).toEqual(rebuild(chain.all()));

    // Refusals.
    expectOneLine(await sluice(["archive", "--before", "last tuesday", "--data", dataDir]), /^sluice archive: --before expects a date .*got "last tuesday"$/);
    expectOneLine(await sluice(["archive", "--data", dataDir]), /^sluice archive: --before DATE is required/);
    expectOneLine(await sluice(["archive", "--before", "2001-01-01", "--data", dataDir]), /^sluice archive: nothing to archive before 2001-01-01T00:00:00\.000Z: the oldest event in the live log \(seq \d+\) is from /);
    expectOneLine(await sluice(["archive", "--before", "1d", "--data", join(dir, "nowhere")]), /^sluice archive: cannot use data dir .*nowhere: no such directory$/);
    expectOneLine(await sluice(["archive", "--before", "2001-01-01", "--bogus"]), /^sluice archive: unknown flag --bogus/);
    expectOneLine(await sluice(["archive", "--before", "2999-01-01", "--data", dataDir, "--to", one.file]), /already exists/);
    const help = await sluice(["archive", "--help"], { cwd: ROOT });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: sluice archive --before DATE");
    const main = await sluice(["--help"]);
    expect(main.stdout).toContain("archive  move old events");
  });

  test("the cut: an interrupted request (its server restarted) does not hold it back, one in flight does", async () => {
    const dir = tempDir("sluice-archive-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = EventLog.open(join(dir, "events.db"));
    cleanups.push(() => log.close());
    const received = (request: string) => log.append(RequestReceived, { request, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "m", stream: false, candidates: [] });
    const completed = (request: string) => log.append(RequestCompleted, { request, target: "p/m", provider: "p", model: "m", status: 200, attempts: 1, stream: false, ttfb_ms: 1, total_ms: 2 });
    await received("r1");
    await completed("r1");
    await received("lost"); // seq 3: its server died
    await log.append(ServerStarted, { host: "127.0.0.1", port: 1, version: "x", pid: 1, durability: "normal" });
    await received("r2");
    await completed("r2");
    await received("running"); // seq 7: in flight
    await received("r3");
    await completed("r3");
    await log.append(ServerStopped, { reason: "test" }); // seq 10, the newest: always stays
    const later = Date.now() + 60_000;
    expect(planArchive(log, later)).toMatchObject({ firstSeq: 1, candidate: 9, boundary: 6, heldBy: { request: "running", seq: 7, open: true } });
    await completed("running"); // seq 11, the newest now: it stays, so its request holds the cut
    expect(planArchive(log, later)).toMatchObject({ candidate: 10, boundary: 6, heldBy: { request: "running", open: false } });
    await log.append(ServerStopped, { reason: "again" });
    expect(planArchive(log, later)).toMatchObject({ candidate: 11, boundary: 11 });
    expect(planArchive(log, later).heldBy).toBeUndefined();
    // A date inside r2: back to before it.
    const r2 = log.forRequest("r2");
    expect(planArchive(log, r2[1]!.at).boundary).toBeLessThan(r2[0]!.seq);
  });

  test("a server that had not yet seen events another process appended gets them from the archive", async () => {
    const dir = tempDir("sluice-archive-");
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "events.db");
    const key = (n: number) => ({ key: `key_${n}`, name: `k${n}`, hash: "a".repeat(64), prefix: "sk-sluice-x", via: "cli" });
    const server = EventLog.open(path);
    cleanups.push(() => server.close());
    await server.append(KeyCreated, key(1));
    const seen: number[] = [];
    server.subscribe((event) => seen.push(event.seq));
    const other = EventLog.open(path);
    for (const n of [2, 3, 4]) await other.append(KeyCreated, key(n));
    other.close();
    const archiver = EventLog.open(path);
    expect(archiveEvents(archiver, { before: Date.now() + 60_000 })).toMatchObject({ firstSeq: 1, boundary: 3 });
    archiver.close();
    server.poll();
    expect(seen).toEqual([2, 3, 4]);
    await server.append(KeyCreated, key(5));
    server.deliver();
    expect(seen).toEqual([2, 3, 4, 5]);
  });

  test("DATE forms", () => {
    const now = Date.UTC(2026, 0, 31, 12);
    expect(parseBefore("2026-01-01", now)).toBe(Date.UTC(2026, 0, 1));
    expect(parseBefore("2026-01-01T10:30:00Z", now)).toBe(Date.UTC(2026, 0, 1, 10, 30));
    expect(parseBefore("2026-01-01T10:30:00+02:00", now)).toBe(Date.UTC(2026, 0, 1, 8, 30));
    expect(parseBefore("1767225600000", now)).toBe(1767225600000);
    expect(parseBefore("90d", now)).toBe(now - 90 * 86_400_000);
    expect(parseBefore("12h", now)).toBe(now - 12 * 3_600_000);
    for (const bad of ["", "yesterday", "2026-13-45", "12x", "2026/01/01", "-5d"]) expect(parseBefore(bad, now)).toBeUndefined();
  });
});
