import { Database } from "bun:sqlite";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { RequestCompleted, RequestReceived } from "../../events/catalog/request.ts";
import { EventLog, EventLogError } from "../../events/log.ts";
import { tempDir } from "../support/gateway.ts";

const received = (request: string) => ({ request, dialect: "openai-chat", endpoint: "/v1/chat/completions", model: "m", stream: false, candidates: ["p/m"] });
const open: EventLog[] = [];
function openLog(path = join(tempDir(), "events.db"), durability: "normal" | "full" = "normal") {
  const log = EventLog.open(path, { durability });
  open.push(log);
  return log;
}
afterEach(() => {
  for (const log of open.splice(0)) log.close();
});

describe("event log", () => {
  test("appends get gap-free increasing seq, shared by one group commit, in append order", async () => {
    const log = openLog();
    const commits = Array.from({ length: 100 }, (_, i) => log.append(RequestReceived, received(`r${i}`)));
    // All 100 were queued in one tick: they share one commit.
    expect(new Set(commits).size).toBe(1);
    await Promise.all(commits);
    const events = log.read(0, 1000);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(events.map((e) => (e.data as { request: string }).request)).toEqual(Array.from({ length: 100 }, (_, i) => `r${i}`));
    expect(events.every((e, i) => i === 0 || e.at >= events[i - 1]!.at)).toBe(true);
    expect(log.lastSeq).toBe(100);
  });

  test("an append is on disk once its promise resolves (read from another connection)", async () => {
    const path = join(tempDir(), "events.db");
    const log = openLog(path, "full");
    await log.append(RequestReceived, received("durable"));
    const other = new Database(path, { readonly: true });
    expect(other.query("select count(*) as n from events").get()).toEqual({ n: 1 });
    other.close();
  });

  test("data is validated against the event's schema; an invalid event is refused", () => {
    const log = openLog();
    expect(() => log.append(RequestReceived, { ...received("x"), stream: "yes" } as never)).toThrow(EventLogError);
    expect(() => log.append(RequestCompleted, { request: "x" } as never)).toThrow(/request\.completed/);
    expect(log.read().length).toBe(0);
  });

  test("seq continues after reopening, and subscribers see commits in order", async () => {
    const path = join(tempDir(), "events.db");
    const first = EventLog.open(path);
    await first.append(RequestReceived, received("a"));
    await first.append(RequestReceived, received("b"));
    first.close();
    const log = openLog(path);
    const seen: number[] = [];
    log.subscribe((e) => seen.push(e.seq));
    await log.append(RequestReceived, received("c"));
    // Listeners hear of a commit at the next turn (the committer goes on first), or at deliver().
    expect(seen).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([3]);
    await log.append(RequestReceived, received("d"));
    log.deliver();
    expect(seen).toEqual([3, 4]);
    expect(log.forRequest("c").map((e) => e.seq)).toEqual([3]);
    expect([...log.all(1)].map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  test("a listener that subscribes after a commit is not told of it; one that commits is told of its own event in order", async () => {
    const log = openLog(join(tempDir(), "events.db"));
    const early: number[] = [];
    log.subscribe((e) => {
      early.push(e.seq);
      // A listener that notes something (as the health watch does) commits inside the delivery.
      if (e.seq === 1) void log.commit(RequestReceived, received("note"), { alone: true });
    });
    await log.commit(RequestReceived, received("a"), { alone: true });
    const late: number[] = [];
    log.subscribe((e) => late.push(e.seq)); // events 1 and 2 (the note) are its past
    expect(early).toEqual([1, 2]);
    await log.commit(RequestReceived, received("b"), { alone: true });
    log.deliver();
    expect(early).toEqual([1, 2, 3]);
    expect(late).toEqual([3]);
  });

  test("a commit made alone leaves nothing scheduled: the next append waits to share the next commit", async () => {
    // A lazy window longer than the test: only a leftover flush could commit an append early.
    const log = EventLog.open(join(tempDir(), "events.db"), { lazyMs: 60_000 });
    open.push(log);
    await log.commit(RequestReceived, received("a"), { alone: true });
    expect(log.stats.commits).toBe(1);
    void log.append(RequestReceived, received("b"));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(log.stats.commits).toBe(1); // b was not committed on its own a turn later
    await log.commit(RequestReceived, received("c"), { alone: true });
    expect(log.stats).toMatchObject({ commits: 2, events: 3 });
    // And an urgent commit's scheduled flush is dropped once a flush has taken its batch.
    const urgent = log.commit(RequestReceived, received("d"));
    log.flush();
    await urgent;
    void log.append(RequestReceived, received("e"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(log.stats.commits).toBe(3);
    log.flush();
    expect(log.stats).toMatchObject({ commits: 4, events: 5 });
  });

  test("events are stored as JSON objects, and every stored event validates", async () => {
    const path = join(tempDir(), "events.db");
    const log = openLog(path);
    await log.append(RequestReceived, received("json"));
    const raw = new Database(path, { readonly: true }).query("select data from events").get() as { data: string };
    expect(JSON.parse(raw.data)).toEqual(received("json"));
    expect(log.read().every(EventLog.validate)).toBe(true);
    expect(log.integrityCheck()).toBe("ok");
  });

  test("a closed log refuses appends", async () => {
    const log = EventLog.open(join(tempDir(), "events.db"));
    log.close();
    await expect(log.append(RequestReceived, received("late"))).rejects.toThrow(/closed/);
  });
});

describe("WAL checkpoints", () => {
  test("run off the request path: the database file catches up with the WAL without a close", async () => {
    const path = join(tempDir(), "events.db");
    const log = openLog(path);
    const { statSync } = await import("node:fs");
    const before = statSync(path).size;
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(RequestReceived, received(`r${round}-${i}`))));
    }
    // The worker checkpoints every 250 ms; the commits themselves never do.
    let after = statSync(path).size;
    for (let i = 0; i < 40 && after <= before; i++) {
      await Bun.sleep(50);
      after = statSync(path).size;
    }
    expect(after).toBeGreaterThan(before + 100 * 1024);
    expect(log.read(0, 10_000).length).toBe(4000);
  });
});

describe("two writers on one log (a command run beside the server)", () => {
  test("seq stays gap-free and unique, and each writer's listeners see the other's events, in seq order", async () => {
    const path = join(tempDir(), "events.db");
    const server = openLog(path);
    const command = openLog(path);
    const seen: number[] = [];
    server.subscribe((record) => seen.push(record.seq));
    await server.commit(RequestReceived, received("s1"));
    await command.commit(RequestReceived, received("c1"));
    await command.commit(RequestReceived, received("c2"));
    // The server's next commit delivers the command's events first.
    await server.commit(RequestReceived, received("s2"));
    server.deliver();
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(server.read(0, 10).map((e) => (e.data as { request: string }).request)).toEqual(["s1", "c1", "c2", "s2"]);
    // With nothing to commit, a poll picks foreign events up.
    await command.commit(RequestReceived, received("c3"));
    server.poll();
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(server.lastSeq).toBe(5);
  });

  test("interleaved concurrent commits from both never collide", async () => {
    const path = join(tempDir(), "events.db");
    const a = openLog(path);
    const b = openLog(path);
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).commit(RequestReceived, received(`r${i}`))));
    const seqs = a.read(0, 1000).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });
});
