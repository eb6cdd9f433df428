import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openLog } from "../../core/boot.ts";
import { reloadConfig } from "../../core/config/watch.ts";
import { createKey } from "../../core/keys/keys.ts";
import { KeyCreated } from "../../events/catalog/key.ts";
import { expectOneLine, sluice } from "../support/cli.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, tempDir, type TestGateway } from "../support/gateway.ts";

// Bad input gets one clear error: over HTTP a 4xx in the client's dialect, on the CLI one line
// on stderr and exit 2. Never a stack trace, a 500 or a hang, and never a secret echoed.

const ADMIN = "admin-robust-5b1e8c2d7a-0123456789abcdef";

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gateway = await startGateway(`admin_key: ${ADMIN}\n${oneProvider(upstream.url)}`);
});

afterAll(async () => {
  await gateway.close();
  await upstream.stop();
});

/** A raw HTTP/1.1 request, so the Host header is exactly the bytes given. */
function raw(path: string, host: string, body = "{}"): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(gateway.port, "127.0.0.1");
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString();
    });
    socket.on("end", () => resolve({ status: Number(data.split(" ")[1]), text: data.slice(data.indexOf("\r\n\r\n") + 4) }));
    socket.on("error", reject);
    const head = [`POST ${path} HTTP/1.1`, `host: ${host}`, "content-type: application/json", `content-length: ${Buffer.byteLength(body)}`, "connection: close"];
    socket.write(`${head.join("\r\n")}\r\n\r\n${body}`);
  });
}

/** An alias bomb ("billion laughs"): a few lines that expand to 9^8 strings. */
const BOMB = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
  ..."bcdefgh".split("").map((name, i) => `${name}: &${name} [${Array(9).fill(`*${"abcdefgh"[i]}`).join(", ")}]`)].join("\n");

describe("malformed Host headers", () => {
  const BAD_HOSTS = ["", "localhost:abc", "127.0.0.1:80@evil.test", "127.999.999.999", "evil.test, localhost"];

  test("each gets a 400 in OpenAI's error shape on /v1/chat/completions, not a 500", async () => {
    for (const host of BAD_HOSTS) {
      const answer = await raw("/v1/chat/completions", host);
      expect({ host, status: answer.status }).toEqual({ host, status: 400 });
      const body = JSON.parse(answer.text) as { error: { message: string; type: string } };
      expect(body.error.message).toMatch(/Host header/);
      expect(body.error.type).toBe("invalid_request_error");
    }
    expect(gateway.logs().filter((l) => l.msg === "unhandled error")).toEqual([]);
  });

  test("the answer is in the path's dialect: Anthropic's shape on /v1/messages", async () => {
    const answer = await raw("/v1/messages", "localhost:abc");
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
  });

  test("a good Host still works", async () => {
    const answer = await raw("/v1/chat/completions", `127.0.0.1:${gateway.port}`, JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] }));
    expect(answer.status).toBe(200);
  });
});

describe("YAML alias bombs", () => {
  test("sluice serve exits 2 with one line naming the file", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "bomb.yaml"), BOMB);
    expectOneLine(await sluice(["serve", "--config", join(dir, "bomb.yaml"), "--data", join(dir, "d"), "--port", "0"], { cwd: dir }),
      /bomb\.yaml: invalid YAML: too many aliases/);
  });

  test("a hot reload onto one is rejected and recorded as config.rejected", async () => {
    const before = gateway.gw.log.read(0, 100_000).filter((e) => e.type === "config.rejected").length;
    const path = join(gateway.dir, "bomb.yaml");
    writeFileSync(path, BOMB);
    expect(reloadConfig(gateway.gw, path, (c) => c)).toBe("rejected");
    gateway.gw.log.flush();
    let rejected = gateway.gw.log.read(0, 100_000).filter((e) => e.type === "config.rejected");
    for (let i = 0; i < 40 && rejected.length === before; i++) {
      await Bun.sleep(25);
      rejected = gateway.gw.log.read(0, 100_000).filter((e) => e.type === "config.rejected");
    }
    expect((rejected.at(-1)!.data as { error: string }).error).toMatch(/bomb\.yaml: invalid YAML: too many aliases/);
  });

  test("an unexpected failure while reloading is a rejection, not an uncaught exception", async () => {
    const path = join(gateway.dir, "sluice.yaml");
    const broken = () => {
      throw new Error("boom in overrides");
    };
    expect(reloadConfig(gateway.gw, path, broken)).toBe("rejected");
    expect(gateway.logs().some((l) => l.msg === "config rejected; the running config stays in force" && String(l.err).includes("boom in overrides"))).toBe(true);
  });
});

describe("caller key limits out of range", () => {
  const data = () => join(gateway.dir, "data");

  test("sluice keys create refuses huge numbers and far expiries with one line", async () => {
    expectOneLine(await sluice(["keys", "create", "--name", "x", "--expires", "99999999999999999999d", "--data", data()]), /^sluice keys: --expires .*100 years/);
    expectOneLine(await sluice(["keys", "create", "--name", "x", "--expires", "9999-12-31", "--data", data()]), /^sluice keys: --expires .*100 years/);
    expectOneLine(await sluice(["keys", "create", "--name", "x", "--rpm", "99999999999999999999999", "--data", data()]), /^sluice keys: --rpm expects a whole number from 1 to 1000000000/);
    expectOneLine(await sluice(["keys", "create", "--name", "x", "--budget", `1${"0".repeat(400)}`, "--data", data()]), /^sluice keys create: --budget expects .*1000000000/);
    const listed = await sluice(["keys", "list", "--data", data(), "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });

  test("POST /api/keys refuses them with a 400", async () => {
    for (const limits of [{ expires_at: 1e300 }, { expires_at: -1e300 }, { rpm: 1e23 }, { tpm: 2 ** 60 }, { concurrency: 1e10 }, { budget_usd: 1e300 }]) {
      const response = await fetch(`${gateway.url}/api/keys`, {
        method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "x", ...limits }),
      });
      expect({ limits, status: response.status }).toEqual({ limits, status: 400 });
      const body = await response.json() as { error: { message: string; param?: string } };
      expect(body.error.param).toBe(Object.keys(limits)[0]);
    }
    const fine = await fetch(`${gateway.url}/api/keys`, {
      method: "POST", headers: { authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ name: "ok", rpm: 1_000_000_000, expires_at: Date.now() + 86_400_000 }),
    });
    expect(fine.status).toBe(201);
    await fetch(`${gateway.url}/api/keys/${(await fine.json() as { id: string }).id}`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}` } });
  });

  test("createKey itself refuses them", async () => {
    await expect(createKey(gateway.gw.log, { name: "x", rpm: 1e23 }, "api")).rejects.toThrow(/rpm/);
  });

  test("sluice keys list prints a key whose stored expiry is not a date, instead of failing", async () => {
    const dir = tempDir();
    const log = openLog(dir, "normal");
    await log.commit(KeyCreated, { key: "key_baddate", name: "old", hash: "0".repeat(64), prefix: "sk-sluice-abcd", via: "cli", expires_at: 1e300 });
    log.close();
    const listed = await sluice(["keys", "list", "--data", dir]);
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/key_baddate .*expires 1e\+300/);
  });
});

describe("config errors never echo secrets", () => {
  test("sluice serve on a file that holds only an API key does not print it", async () => {
    const dir = tempDir();
    const secret = `sk-proj-${"Zx9".repeat(14)}`;
    writeFileSync(join(dir, "keyfile"), `${secret}\n`);
    const result = await sluice(["serve", "--config", join(dir, "keyfile"), "--data", join(dir, "d"), "--port", "0"], { cwd: dir });
    expectOneLine(result, /keyfile:1: expected a mapping of settings at the top level, got a string/);
    expect(result.stderr).not.toContain("Zx9Zx9");
  });
});
