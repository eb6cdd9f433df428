import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { startFakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, tempDir } from "../support/gateway.ts";
import { ROOT, expectOneLine, sluice } from "../support/cli.ts";

// The CLI as a user runs it: a real process, its exit code and what it prints.




describe("sluice CLI", () => {
  test("--help for the CLI and for each command", async () => {
    const top = await sluice(["--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain("Usage: sluice <command>");
    const serve = await sluice(["serve", "--help"]);
    expect(serve.code).toBe(0);
    expect(serve.stdout).toContain("--config FILE");
    const replay = await sluice(["replay", "--help"]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain("--request ID");
  });

  test("bad flags and commands: one line, exit 2", async () => {
    expectOneLine(await sluice(["serve", "--bogus"]), /^sluice serve: unknown flag --bogus/);
    expectOneLine(await sluice(["serve", "--port", "http"]), /^sluice serve: --port expects a number from 0 to 65535, got "http"$/);
    expectOneLine(await sluice(["serve", "--port"]), /^sluice serve: flag --port .*needs a value|^sluice serve: .*--port/);
    expectOneLine(await sluice(["frobnicate"]), /^sluice: unknown command "frobnicate"/);
  });

  test("an unreadable or invalid config: one line naming file, line and key, exit 2", async () => {
    const dir = tempDir();
    expectOneLine(await sluice(["serve", "--config", join(dir, "missing.yaml")], { cwd: dir }), /^cannot read config .*missing\.yaml: no such file$/);
    writeFileSync(join(dir, "bad.yaml"), "server:\n  port: eighty\n");
    expectOneLine(await sluice(["serve", "--config", join(dir, "bad.yaml"), "--data", join(dir, "d")], { cwd: dir }), /bad\.yaml:2: server\.port: expected an integer .*got string "eighty"$/);
    writeFileSync(join(dir, "kind.yaml"), "providers:\n  - { id: x, kind: nope }\n");
    expectOneLine(await sluice(["serve", "--config", join(dir, "kind.yaml"), "--data", join(dir, "d")], { cwd: dir }), /kind\.yaml: providers\[0\]\.kind: unknown kind "nope" \(known: [a-z, -]*openai[a-z, -]*\)$/);
  });

  test("an unusable data dir: one line, exit 2", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "x");
    expectOneLine(await sluice(["serve", "--data", join(dir, "file"), "--port", "0"], { cwd: dir }), /^cannot use data dir .*file: not a directory$/);
    mkdirSync(join(dir, "locked"));
    chmodSync(join(dir, "locked"), 0o500);
    if (process.getuid?.() !== 0) {
      expectOneLine(await sluice(["serve", "--data", join(dir, "locked", "sub"), "--port", "0"], { cwd: dir }), /^cannot use data dir .*: permission denied$/);
    }
  });

  test("a non-loopback address without caller auth is refused", async () => {
    expectOneLine(await sluice(["serve", "--host", "0.0.0.0", "--port", "0", "--data", join(tempDir(), "d")], { cwd: tempDir() }), /^refusing to listen on 0\.0\.0\.0 without caller authentication/);
  });

  test("replay: summary of a real log, a request's timeline, interrupted requests, JSON", async () => {
    const upstream = startFakeUpstream();
    const gateway = await startGateway(oneProvider(upstream.url));
    const ask = (model: string) => fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }) });
    const ok = await ask("fake-model");
    await ok.text();
    await (await ask("missing-model")).text();
    const id = ok.headers.get("x-sluice-request-id")!;
    const dataDir = join(gateway.dir, "data");
    const live = gateway.gw.projections.snapshot();
    try {
      const summary = await sluice(["replay", "--data", dataDir]);
      expect(summary.code).toBe(0);
      expect(summary.stdout).toMatch(/requests\s+2 received: 1 completed, 1 failed, 0 cancelled, 0 interrupted/);
      expect(summary.stdout).toMatch(/0 gaps, 0 invalid/);
      expect(summary.stdout).toMatch(/local\/fake-model\s+1\s+1\s+0\s+11\s+7/);

      const json = JSON.parse((await sluice(["replay", "--data", dataDir, "--json"])).stdout);
      // A rebuild from event 1 equals the live projections.
      expect(json.projections).toEqual(JSON.parse(JSON.stringify(live)));

      const timeline = await sluice(["replay", "--data", dataDir, "--request", id]);
      expect(timeline.code).toBe(0);
      // The decision trail in plain words, a blank line, then the raw timeline.
      const [trail, raw] = timeline.stdout.trimEnd().split("\n\n");
      expect(trail).toContain(`request ${id} asked for`);
      const lines = raw!.split("\n");
      expect(lines.map((l) => l.split(/\s+/)[3])).toEqual(["request.received", "route.decided", "attempt.started", "attempt.succeeded", "request.completed"]);
      expect(timeline.stdout).toContain("usage=");

      expectOneLine(await sluice(["replay", "--data", dataDir, "--request", "req_nope"]), /no events for request req_nope/);
      expectOneLine(await sluice(["replay", "--data", join(tempDir(), "empty")]), /no event log at/);
    } finally {
      await gateway.close();
      await upstream.stop();
    }
  });
});
