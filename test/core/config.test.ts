import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { defaultConfig } from "../../core/config/defaults.ts";
import { parseConfig } from "../../core/config/load.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, type TestGateway } from "../support/gateway.ts";

const error = (yaml: string, env: Record<string, string> = {}) => {
  const result = parseConfig(yaml, "sluice.yaml", env);
  if (result.ok) throw new Error("expected a config error");
  return result.error;
};

describe("config loading", () => {
  test("a valid file gets its defaults filled and ${VAR} / ${VAR:-default} expanded", () => {
    const result = parseConfig(`
server: { port: 9000 }
providers:
  - id: a
    kind: openai
    base_url: \${BASE:-http://127.0.0.1:8080/v1}
    api_key: \${KEY}
    models: [m1]
routes:
  - { name: smart, targets: [a/m1] }
`, "sluice.yaml", { KEY: "sk-from-env" });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.server).toEqual({ host: "127.0.0.1", port: 9000, max_body_bytes: 32 * 1024 * 1024, idle_timeout_s: 10 });
    expect(result.config.providers[0]).toMatchObject({ base_url: "http://127.0.0.1:8080/v1", api_key: "sk-from-env", headers: {}, stream_usage: true });
    expect(result.config.timeouts).toEqual({ connect_ms: 5_000, first_byte_ms: 60_000, idle_ms: 120_000, total_ms: 600_000 });
    expect(result.config.data_dir).toBe("./.sluice");
    expect(result.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  test("the README's sluice.yaml example is a valid config", async () => {
    const { readFileSync } = await import("node:fs");
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const example = readme.split("## Configuration")[1]!.split("```yaml")[1]!.split("```")[0]!;
    const result = parseConfig(example, "README.md", { OPENAI_API_KEY: "sk-x" });
    expect(result.ok ? "valid" : result.error).toBe("valid");
  });

  test("YAML syntax errors name the line and column", () => {
    expect(error("server:\n  port: 1\n bad: [\n")).toMatch(/^sluice\.yaml:3:\d+: invalid YAML: /);
  });

  test("wrong types name the key path, the line, and expected vs got", () => {
    expect(error("server:\n  host: 127.0.0.1\n  port: 99999\n")).toBe("sluice.yaml:3: server.port: expected an integer (>= 0, <= 65535), got number 99999");
    expect(error("providers:\n  - id: a\n    kind: openai\n    models: { a: 1 }\n")).toBe("sluice.yaml:4: providers[0].models[0]: expected a string (non-empty), got a mapping");
    expect(error("timeouts:\n  total_ms: soon\n")).toBe('sluice.yaml:2: timeouts.total_ms: expected an integer (>= 1, <= 86400000), got string "soon"');
    expect(error("routes:\n  - name: r\n    strategy: fastest\n    targets: [a/b]\n")).toMatch(/^sluice\.yaml:3: routes\[0\]\.strategy: expected one of "priority", .*got string "fastest"$/);
  });

  test("unknown keys and missing required keys are named", () => {
    expect(error("server:\n  hots: x\n")).toBe("sluice.yaml:2: server.hots: unknown key (known: host, port, max_body_bytes, idle_timeout_s, allow_ips)");
    expect(error("providers:\n  - kind: openai\n")).toBe("sluice.yaml:2: providers[0].id: is required");
  });

  test("secret values are never echoed in an error", () => {
    const message = error("providers:\n  - id: a\n    kind: openai\n    api_key: [sk-live-secret]\n");
    expect(message).toContain("providers[0].api_key");
    expect(message).not.toContain("sk-live-secret");
  });

  test("an unset ${VAR} without a default is an error naming the variable", () => {
    expect(error("providers:\n  - id: a\n    kind: openai\n    api_key: ${MISSING_KEY}\n")).toBe(
      "sluice.yaml:4: providers[0].api_key: environment variable MISSING_KEY is not set (write ${MISSING_KEY:-} to allow it empty)",
    );
  });

  test("routes must point at configured providers, names must be unique", () => {
    expect(error("providers:\n  - { id: a, kind: openai }\nroutes:\n  - { name: r, targets: [b/m] }\n")).toBe('sluice.yaml:4: routes[0].targets[0]: unknown provider "b" (configured: a)');
    expect(error("providers:\n  - { id: a, kind: openai }\n  - { id: a, kind: openai }\n")).toBe('sluice.yaml:3: providers[1].id: duplicate provider id "a"');
  });

  test("embedded defaults: loopback, and a provider per API key in the environment", () => {
    const none = defaultConfig({}, new Set(["openai"]));
    expect(none.ok && none.config.server).toEqual({ host: "127.0.0.1", port: 2402, max_body_bytes: 32 * 1024 * 1024, idle_timeout_s: 10 });
    expect(none.ok && none.config.providers).toEqual([]);
    const some = defaultConfig({ OPENAI_API_KEY: "sk-o", ANTHROPIC_API_KEY: "sk-a", GEMINI_API_KEY: "g" }, new Set(["openai"]));
    if (!some.ok) throw new Error("defaults failed");
    expect(some.config.providers.map((p) => [p.id, p.kind, p.base_url])).toEqual([
      ["openai", "openai", "https://api.openai.com/v1"],
      // without a native executor loaded, the vendors' OpenAI-compatible endpoints are used
      ["anthropic", "openai", "https://api.anthropic.com/v1"],
      ["gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai"],
    ]);
    const native = defaultConfig({ ANTHROPIC_API_KEY: "sk-a" }, new Set(["openai", "anthropic"]));
    expect(native.ok && native.config.providers[0]).toMatchObject({ kind: "anthropic", base_url: "https://api.anthropic.com" });
  });
});

describe("hot reload of the config file", () => {
  let upstream: FakeUpstream;
  let gateway: TestGateway;
  beforeAll(async () => {
    upstream = startFakeUpstream();
    gateway = await startGateway(oneProvider(upstream.url));
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.stop();
  });

  const eventsOf = (type: string) => gateway.gw.log.read(0, 100_000).filter((e) => e.type === type);
  const waitFor = async (check: () => boolean) => {
    for (let i = 0; i < 60 && !check(); i++) await Bun.sleep(50);
    return check();
  };
  const ask = (model: string) => fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }) });

  test("a valid edit applies without a restart and is recorded as config.applied", async () => {
    expect((await ask("smart")).status).toBe(404);
    writeFileSync(gateway.configPath, `${oneProvider(upstream.url)}routes:\n  - { name: smart, targets: [local/fake-model] }\n`);
    expect(await waitFor(() => eventsOf("config.applied").length === 2)).toBe(true);
    expect(eventsOf("config.applied")[1]!.data).toMatchObject({ reason: "reload", routes: ["smart"], providers: ["local"] });
    expect((await ask("smart")).status).toBe(200);
  });

  test("an invalid edit is rejected, recorded as config.rejected, and the running config stays", async () => {
    writeFileSync(gateway.configPath, `${oneProvider(upstream.url)}routes:\n  - { name: smart, strategy: nope, targets: [local/fake-model] }\n`);
    expect(await waitFor(() => eventsOf("config.rejected").length === 1)).toBe(true);
    expect((eventsOf("config.rejected")[0]!.data as { error: string }).error).toMatch(/routes\[0\]\.strategy: expected one of/);
    expect((await ask("smart")).status).toBe(200);
    const logged = gateway.logs().find((l) => l.msg === "config rejected; the running config stays in force");
    expect(logged).toBeDefined();
  });

  test("an edit naming an unknown provider kind is rejected", async () => {
    writeFileSync(gateway.configPath, oneProvider(upstream.url).replace("kind: openai", "kind: antropic"));
    expect(await waitFor(() => eventsOf("config.rejected").length === 2)).toBe(true);
    expect((eventsOf("config.rejected")[1]!.data as { error: string }).error).toMatch(/unknown kind "antropic" \(known: [a-z, -]*openai[a-z, -]*\)/);
    expect((await ask("fake-model")).status).toBe(200);
  });

  test("config events never hold the provider key", () => {
    const text = JSON.stringify(gateway.gw.log.read(0, 100_000));
    expect(text).not.toContain("sk-test-provider-key-123456");
  });
});

describe("config input that must not slip through", () => {
  test("an alias bomb is a YAML error naming the file, not an exception", () => {
    const bomb = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
      ..."bcdefgh".split("").map((name, i) => `${name}: &${name} [${Array(9).fill(`*${"abcdefgh"[i]}`).join(", ")}]`)].join("\n");
    expect(error(bomb)).toMatch(/^sluice\.yaml: invalid YAML: too many aliases \(.+\)$/);
  });

  test("a file holding only a credential: its type and length, never its value", () => {
    const secret = `sk-proj-${"aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7n"}`;
    const message = error(`${secret}\n`);
    expect(message).toBe(`sluice.yaml:1: expected a mapping of settings at the top level, got a string (${secret.length} characters)`);
    expect(message).not.toContain("aB3dE5");
  });

  test("echoed key names and values are cut short and credentials in them redacted", () => {
    const long = "k".repeat(5000);
    const message = error(`? ${long}\n: 1\n`);
    expect(message.length).toBeLessThan(300);
    expect(message).toMatch(/^sluice\.yaml:\d: k{40}…: unknown key/);
    const credential = `sk-proj-${"Q".repeat(30)}`;
    expect(error(`${credential}: 1\n`)).not.toContain("QQQQ");
    // The first line of /etc/shadow, given as the config by mistake.
    const shadow = error("root:$6$Tr0ub4dor3xq$9fJk2LmN4pQ6rS8tV0wX2yZ4aB6cD8eF0gH2iJ4kL6mN8oP0qR2sT4uV6wX8yZ0:19000:0:99999:7:::\n");
    expect(shadow).toMatch(/^sluice\.yaml:1: <a key of \d+ characters>: unknown key/);
    expect(shadow).not.toContain("Tr0ub4dor");
    expect(error(`timeouts:\n  total_ms: ${"x".repeat(50)}\n`)).toMatch(/got a string \(50 characters\)$/);
    expect(error(`timeouts:\n  total_ms: ${credential.slice(0, 20)}\n`)).not.toContain("QQQQ");
  });

  test("a ${VAR} inside a default is refused, naming the key and the variable", () => {
    expect(error("providers:\n  - id: a\n    kind: openai\n    base_url: ${BASE:-${FALLBACK}}\n")).toBe(
      "sluice.yaml:4: providers[0].base_url: ${BASE:-…} holds \"{\" in its default: a ${VAR} inside a default is not supported",
    );
    expect(error("providers:\n  - id: a\n    kind: openai\n    base_url: ${BASE:-${FALLBACK}}\n", { BASE: "http://x" })).toMatch(/BASE:-…\} holds "\{"/);
  });
});
