import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import pino from "pino";
import { startServer } from "../../core/cli/serve.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { Vault } from "../../core/vault/index.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, tempDir, type TestGateway } from "../support/gateway.ts";

// A provider key kept in the vault reaches the upstream, and nothing else: not the log, not the
// gateway's own log lines, not the admin API, not an error message.

const open: Array<FakeUpstream | TestGateway> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ("close" in thing ? thing.close() : thing.stop());
});

test("config refers to vault:NAME; the executor gets the decrypted key; no trace of it anywhere else", async () => {
  const canary = `sk-canary-prov-${crypto.randomUUID()}`;
  const key = randomBytes(32).toString("base64");
  const dataDir = join(tempDir(), "data");
  mkdirSync(dataDir, { recursive: true });
  Vault.open(dataDir, { kind: "key", key: Buffer.from(key, "base64"), from: "test" }).set("openai", canary);

  const up = startFakeUpstream((seen) => seen.headers.authorization === `Bearer ${canary}`
    ? Response.json({ id: "x", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] })
    : Response.json({ error: { message: `bad key ${seen.headers.authorization}` } }, { status: 401 }));
  open.push(up);
  const config = join(dataDir, "..", "sluice.yaml");
  writeFileSync(config, `admin_key: admin-secret-123-0123456789abcdef0123
providers:
  - { id: p, kind: openai, base_url: "${up.url}", api_key: "vault:openai", models: [m] }
`);
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
  const running = await startServer({ config, port: 0, host: "127.0.0.1", data: dataDir }, builtinPlugins, { logger, env: { ...process.env, SLUICE_VAULT_KEY: key } });
  const g = { ...running, logs: () => lines, close: () => running.stop("test") };
  open.push(g as never);
  const response = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }) });
  expect(response.status).toBe(200);
  const providers = await (await fetch(`${g.url}/api/providers`, { headers: { authorization: "Bearer admin-secret-123-0123456789abcdef0123" } })).text();
  const everywhere = [JSON.stringify([...g.gw.log.all()]), g.logs().join("\n"), providers];
  const forms = [canary, Buffer.from(canary).toString("base64"), Buffer.from(canary).toString("hex"), encodeURIComponent(canary), canary.slice(-12)];
  for (const text of everywhere) for (const form of forms) expect(text).not.toContain(form);
});

test("a reference to a name the vault does not hold stops the start with one line", async () => {
  await expect(startGateway(`providers:\n  - { id: p, kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: "vault:missing", models: [m] }\n`, {
    env: { ...process.env, SLUICE_VAULT_KEY: randomBytes(32).toString("base64") },
  })).rejects.toThrow(/missing/);
});
