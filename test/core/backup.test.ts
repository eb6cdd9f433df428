import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { backup } from "../../core/cli/backup.ts";
import { summarize } from "../../core/cli/replay.ts";
import { startServer, type Running } from "../../core/cli/serve.ts";
import type { EventRecord } from "../../events/define.ts";
import { EventLog } from "../../events/log.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, tempDir, type TestGateway } from "../support/gateway.ts";
import { ROOT, expectOneLine, sluice } from "../support/cli.ts";

// `sluice backup FILE` beside a live, busy gateway: the copy is a consistent snapshot (gap-free,
// identical to the live log up to its last seq), it replays to the same projections as the live
// log folded to that seq, and it restores as the events.db of a new data dir.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A steady stream of requests from `workers` clients, bounded in count; stop() waits for them. */
function steadyLoad(url: string, workers = 4, max = 50_000) {
  let stopped = false;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  const run = async (worker: number) => {
    while (!stopped && sent < max) {
      const n = sent++;
      const stream = n % 3 === 0;
      try {
        const response = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model: n % 5 === 4 ? "missing-model" : "fake-model", stream, messages: [{ role: "user", content: `w${worker} #${n}` }] }),
        });
        await response.text();
        if (response.status === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, i) => run(i)));
  return {
    get ok() {
      return ok;
    },
    get failed() {
      return failed;
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
}

async function until(condition: () => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(10);
  }
}

/** A log-like source for summarize() over events already in memory. */
function asLog(events: EventRecord[]): EventLog {
  return { all: () => events[Symbol.iterator]() } as unknown as EventLog;
}

/** Everything the checks below need from a backup file, read on its own. */
function readBackup(path: string) {
  const raw = new Database(path, { readonly: true, strict: true });
  const integrity = (raw.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check;
  raw.close();
  const log = EventLog.open(path, { readonly: true });
  try {
    return { integrity, events: [...log.all()], summary: summarize(log) };
  } finally {
    log.close();
  }
}

/** The backup against the live log: same events up to its last seq, same fold. */
function checkAgainstLive(path: string, live: EventLog) {
  const copy = readBackup(path);
  expect(copy.integrity).toBe("ok");
  expect(statSync(path).mode & 0o777).toBe(0o600);
  const last = copy.events.at(-1)!.seq;
  // seq gap-free from 1
  expect(copy.events.map((e) => e.seq)).toEqual(Array.from({ length: copy.events.length }, (_, i) => i + 1));
  const upTo = live.read(0, 1_000_000, last);
  expect(copy.events).toEqual(upTo);
  // Per request: what the backup holds for every received request is what the live log had then.
  const requests = new Set(copy.events.filter((e) => e.type === "request.received").map((e) => (e.data as { request: string }).request));
  expect(requests.size).toBeGreaterThan(0);
  for (const request of requests) {
    const inCopy = copy.events.filter((e) => (e.data as { request?: string }).request === request);
    expect(inCopy).toEqual(live.forRequest(request).filter((e) => e.seq <= last));
  }
  // The restore test: the backup replays to what the live log folds to at that seq.
  expect(copy.summary).toEqual(summarize(asLog(upTo)));
  expect(copy.summary.gaps).toBe(0);
  expect(copy.summary.invalid).toBe(0);
  return { last, summary: copy.summary, events: copy.events };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function liveGateway(): Promise<{ upstream: FakeUpstream; gateway: TestGateway; dataDir: string; out: string }> {
  const upstream = startFakeUpstream();
  cleanups.push(() => upstream.stop());
  const gateway = await startGateway(oneProvider(upstream.url));
  cleanups.push(() => gateway.close());
  const out = tempDir("sluice-backup-");
  cleanups.push(() => rmSync(out, { recursive: true, force: true }));
  return { upstream, gateway, dataDir: join(gateway.dir, "data"), out };
}

describe("sluice backup", () => {
  test("under a steady stream of requests: consistent, gap-free, equal to the live log, replays to the same projections", async () => {
    const { gateway, dataDir, out } = await liveGateway();
    const live = gateway.gw.log;
    const load = steadyLoad(gateway.url);
    try {
      await until(() => load.ok >= 30);
      const taken: Array<{ path: string; before: number; after: number }> = [];
      // In process, a few times while the stream goes on (the copy reads through its own connection).
      for (let i = 0; i < 3; i++) {
        const path = join(out, `inproc-${i}.db`);
        const before = live.lastSeq;
        const result = backup({ dataDir, target: path });
        taken.push({ path, before, after: live.lastSeq });
        expect(result.lastSeq).toBeGreaterThanOrEqual(before);
        expect(result.events).toBe(result.lastSeq);
        expect(result.gaps).toBe(0);
        expect(result.bytes).toBe(statSync(path).size);
        const okBefore = load.ok;
        await until(() => load.ok >= okBefore + 10);
      }
      // The real CLI, another process, while this one keeps serving and committing.
      const cliPath = join(out, "cli.db");
      const before = live.lastSeq;
      const cli = await sluice(["backup", cliPath, "--data", dataDir]);
      const after = live.lastSeq;
      expect(cli.stderr).toBe("");
      expect(cli.code).toBe(0);
      expect(cli.stdout.trimEnd().split("\n")).toHaveLength(1);
      expect(cli.stdout).toMatch(new RegExp(`^sluice backup: ${cliPath}: (\\d+) events, last seq \\1, \\d+ bytes, \\d+ ms \\(integrity ok\\)\\n$`));
      expect(after).toBeGreaterThan(before); // the server kept writing while the backup ran
      taken.push({ path: cliPath, before, after });

      const okBeforeStop = load.ok;
      await until(() => load.ok >= okBeforeStop + 10);
      await load.stop();
      expect(load.ok).toBeGreaterThan(60);
      live.flush();

      for (const { path, before: seqBefore } of taken) {
        const { last, summary } = checkAgainstLive(path, live);
        expect(last).toBeGreaterThanOrEqual(seqBefore);
        expect(last).toBeLessThan(live.lastSeq); // a snapshot mid-stream: the live log went on
        expect(summary.requests.received).toBeGreaterThan(0);
      }
      // The CLI's summary line states the copy's real last seq.
      const cliLast = Number(/last seq (\d+)/.exec(cli.stdout)![1]);
      expect(readBackup(cliPath).events.at(-1)!.seq).toBe(cliLast);
    } finally {
      await load.stop();
    }
  }, 60_000);

  test("restore: a backup as the events.db of a fresh data dir starts a gateway that answers and goes on from its last seq + 1", async () => {
    const { upstream, gateway, dataDir, out } = await liveGateway();
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: `r${i}` }] }) });
      expect(response.status).toBe(200);
      await response.text();
    }
    const file = join(out, "restore.db");
    const result = backup({ dataDir, target: file });
    const copy = readBackup(file);

    const restoredDir = join(out, "restored");
    mkdirSync(restoredDir, { mode: 0o700 });
    copyFileSync(file, join(restoredDir, "events.db"));
    const logger = pino({ level: "silent" });
    let restored: Running | undefined;
    try {
      restored = await startServer({ config: gateway.configPath, port: 0, host: "127.0.0.1", data: restoredDir }, builtinPlugins, { logger });
      const log = restored.gw.log;
      // The projections rebuilt at start are the backup's.
      expect(restored.gw.projections.get("usage")).toEqual(copy.summary.projections.usage);
      const response = await fetch(`${restored.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "after restore" }] }) });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe("echo: after restore");
      log.flush();
      const all = log.read(0, 1_000_000);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
      expect(all.slice(0, result.lastSeq)).toEqual(copy.events);
      const next = all[result.lastSeq]!;
      expect(next.seq).toBe(result.lastSeq + 1);
      expect(next.at).toBeGreaterThanOrEqual(copy.events.at(-1)!.at);
      // The restored server's own start is on record after the backup's events.
      const started = all.slice(result.lastSeq).map((e) => e.type);
      expect(started).toContain("config.applied");
      expect(started).toContain("server.started");
      const id = response.headers.get("x-sluice-request-id")!;
      expect(log.forRequest(id).every((e) => e.seq > result.lastSeq)).toBe(true);
      const before = copy.summary.projections.usage.byTarget["local/fake-model"]!;
      expect(restored.gw.projections.get("usage").byTarget["local/fake-model"]!.requests).toBe(before.requests + 1);
    } finally {
      await restored?.stop("test");
    }
    expect(upstream.seen.length).toBe(6);
    // A stopped server's data dir backs up too (no -wal/-shm left beside the log).
    const again = backup({ dataDir: restoredDir, target: join(out, "again.db") });
    const reopened = EventLog.open(join(restoredDir, "events.db"), { readonly: true });
    try {
      expect(again.lastSeq).toBe(reopened.lastSeq);
      expect(readBackup(join(out, "again.db")).events).toEqual([...reopened.all()]);
    } finally {
      reopened.close();
    }
  }, 30_000);

  test("CLI: --help, replay --log on the copy, the vault beside it, --config, --force, and bad cases (one line, exit 2)", async () => {
    const { gateway, dataDir, out } = await liveGateway();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] }) });
    await response.text();

    const help = await sluice(["backup", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: sluice backup FILE");
    expect((await sluice(["--help"])).stdout).toMatch(/^ {2}backup /m);

    // The vault (encrypted at rest) goes beside the copy, byte for byte, 0600.
    const vault = JSON.stringify({ version: 1, entries: { sealed: "not-a-real-ciphertext" } });
    writeFileSync(join(dataDir, "vault.json"), vault, { mode: 0o600 });
    const file = join(out, "b.db");
    const first = await sluice(["backup", file, "--data", dataDir]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const lines = first.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^sluice backup: .*b\.db: \d+ events, last seq \d+, \d+ bytes, \d+ ms \(integrity ok\)$/);
    expect(lines[1]).toBe(`sluice backup: vault copied to ${file}.vault.json (still encrypted: restoring it needs the same vault key)`);
    expect(readFileSync(`${file}.vault.json`, "utf8")).toBe(vault);
    expect(statSync(`${file}.vault.json`).mode & 0o777).toBe(0o600);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}-journal`) || existsSync(`${file}-wal`)).toBe(false); // one self-contained file

    // Directly usable by replay.
    const replay = await sluice(["replay", "--log", file]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/0 gaps, 0 invalid/);
    expect(replay.stdout).toMatch(/requests\s+1 received: 1 completed/);

    // Refused without --force: nothing touched.
    const sizeBefore = statSync(file).size;
    writeFileSync(file, "keep me");
    expectOneLine(await sluice(["backup", file, "--data", dataDir]), /^sluice backup: .*b\.db already exists \(use --force to overwrite\)$/);
    expect(readFileSync(file, "utf8")).toBe("keep me");
    const forced = await sluice(["backup", file, "--data", dataDir, "--force"]);
    expect(forced.code).toBe(0);
    expect(statSync(file).size).toBeGreaterThanOrEqual(sizeBefore);
    expect(readBackup(file).integrity).toBe("ok");

    // The data dir from --config's data_dir.
    const config = join(out, "sluice.yaml");
    writeFileSync(config, `data_dir: ${dataDir}\n`);
    const viaConfig = await sluice(["backup", join(out, "c.db"), "--config", config]);
    expect(viaConfig.code).toBe(0);
    expect(viaConfig.stdout).toMatch(/c\.db: \d+ events/);

    // Bad cases.
    expectOneLine(await sluice(["backup", join(out, "x.db"), "--data", join(out, "nope")]), /^sluice backup: cannot use data dir .*nope: no such directory$/);
    mkdirSync(join(out, "empty"));
    expectOneLine(await sluice(["backup", join(out, "x.db"), "--data", join(out, "empty")]), /^sluice backup: no event log at .*empty\/events\.db$/);
    mkdirSync(join(out, "garbage"));
    writeFileSync(join(out, "garbage", "events.db"), "this is not a database, just some bytes ".repeat(100));
    expectOneLine(await sluice(["backup", join(out, "x.db"), "--data", join(out, "garbage")]), /^sluice backup: cannot read .*garbage\/events\.db: file is not a database$/);
    expectOneLine(await sluice(["backup", "--data", dataDir]), /^sluice backup: missing FILE/);
    expectOneLine(await sluice(["backup", join(out, "x.db"), "--bogus"]), /^sluice backup: unknown flag --bogus/);
    expectOneLine(await sluice(["backup", join(out, "no", "such", "x.db"), "--data", dataDir]), /^sluice backup: cannot write .*x\.db: no such directory/);
    expectOneLine(await sluice(["backup", join(dataDir, "events.db"), "--data", dataDir, "--force"]), /is the live event log itself/);
    expectOneLine(await sluice(["backup", join(out, "x.db"), "--config", join(out, "missing.yaml")]), /missing\.yaml/);
    if (process.getuid?.() !== 0) {
      mkdirSync(join(out, "locked"), { mode: 0o500 });
      expectOneLine(await sluice(["backup", join(out, "locked", "x.db"), "--data", dataDir]), /^sluice backup: cannot write .*x\.db: permission denied$/);
    }
    expect(existsSync(join(out, "x.db"))).toBe(false);
    // No temporary files left behind by any of it.
    expect(readdirSync(out).filter((name) => name.includes(".tmp-"))).toEqual([]);
  }, 60_000);
});
