import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, tempDir, type TestGateway } from "../support/gateway.ts";

// The README's JWT auth plugin, loaded from the plugins directory: an operator's own tokens.

const README = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
const at = README.indexOf("<!-- plugin:jwt -->");
const source = /```ts\n([\s\S]*?)```/.exec(README.slice(at))![1]!;

const SECRET = "jwt-test-secret-5e6f";
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
function jwt(claims: Record<string, unknown>, secret = SECRET, alg = "HS256"): string {
  const head = `${b64({ alg, typ: "JWT" })}.${b64(claims)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  process.env.JWT_SECRET = SECRET;
  upstream = startFakeUpstream();
  const plugins = join(tempDir(), "plugins.d");
  mkdirSync(plugins, { mode: 0o755 });
  writeFileSync(join(plugins, "jwt.ts"), source, { mode: 0o644 });
  gateway = await startGateway(`plugins_dir: ${plugins}\nproviders:\n  - { id: p, kind: openai, base_url: "${upstream.url}", models: [m] }\n`);
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.stop();
  delete process.env.JWT_SECRET;
});

const chat = (token?: string) => fetch(`${gateway.url}/v1/chat/completions`, {
  method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {},
  body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }),
});

test("a valid token lets the caller in, named by its subject on the record", async () => {
  const response = await chat(jwt({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 60 }));
  expect(response.status).toBe(200);
  const received = gateway.gw.log.forRequest(response.headers.get("x-sluice-request-id")!)[0]!;
  expect(received.data).toMatchObject({ caller: "jwt:alice" });
});

test("no token, a wrong signature, an expired token or another algorithm: the one fixed 401", async () => {
  for (const token of [undefined, jwt({ sub: "mallory" }, "other-secret"), jwt({ sub: "alice", exp: 1 }), jwt({ sub: "alice" }, SECRET, "none"), "not.a.jwt"]) {
    const response = await chat(token);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { message: "invalid or missing API key" } });
  }
});
