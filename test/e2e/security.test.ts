import { afterEach, describe, expect, test } from "vitest";
import { blockedAddress } from "../../core/pipeline/outbound.ts";
import { createKey } from "../../core/keys/keys.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// The past incidents of other gateways (RELIABILITY.md; LANDSCAPE.md), each as a test: SSRF
// through a request's api_base, keys in logs, SQL injection through the admin API, and a caller
// key used as an admin key.

const ADMIN = "admin-canary-91b2c3d4e5-0123456789abcdef";
const PROVIDER = "sk-canary-prov-0a1b2c3d-4e5f";

const open: Array<FakeUpstream | TestGateway> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ("close" in thing ? thing.close() : thing.stop());
});

function upstream(behaviour?: Parameters<typeof startFakeUpstream>[0]) {
  const u = startFakeUpstream(behaviour);
  open.push(u);
  return u;
}

async function gateway(providerUrl: string, extra = ""): Promise<TestGateway> {
  const g = await startGateway(`
admin_key: ${ADMIN}
providers:
  - { id: p, kind: openai, base_url: "${providerUrl}", api_key: ${PROVIDER}, models: [m] }
${extra}`);
  open.push(g);
  return g;
}

const chat = (g: TestGateway, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) => fetch(`${g.url}/v1/chat/completions`, {
  method: "POST", headers, body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }], ...body }),
});

describe("SSRF", () => {
  test("a request cannot choose where it goes: URL fields in the body are refused, host headers are ignored", async () => {
    const bait = upstream();
    const real = upstream();
    const g = await gateway(real.url);
    for (const field of ["api_base", "base_url", "baseURL", "endpoint"]) {
      const refused = await chat(g, { [field]: bait.url });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: { param: field } });
    }
    const response = await chat(g, { api_key: "sk-caller" }, { "x-forwarded-host": "169.254.169.254", "x-upstream-base-url": bait.url });
    expect(response.status).toBe(200);
    expect(bait.seen).toHaveLength(0);
    expect(real.seen).toHaveLength(1);
    // The caller's own credentials never travel upstream: the gateway sets the provider's.
    expect(real.seen[0]!.headers.authorization).toBe(`Bearer ${PROVIDER}`);
  });

  test("a provider URL at a link-local or metadata address is refused before any connection", async () => {
    const g = await gateway("http://169.254.169.254/v1");
    const started = Date.now();
    const response = await chat(g);
    expect(response.status).toBe(502);
    expect(await response.text()).toContain("refusing to call 169.254.169.254");
    expect(Date.now() - started).toBeLessThan(1000);
    const blocked = [...g.gw.log.all()].filter((e) => e.type === "egress.blocked");
    expect(blocked.map((e) => e.data)).toEqual([expect.objectContaining({ target: "p/m", host: "169.254.169.254" })]);
    for (const address of [
      "169.254.169.254", "169.254.0.1", "fe80::1", "FE80::abcd:1%eth0", "febf::1", "fd00:ec2::254", "fd00:ec2:0:0:0:0:0:254", "::", "0:0:0:0:0:0:0:0",
      "100.100.100.200", "0.0.0.0",
      // IPv4 inside IPv6 reaches the IPv4 address: mapped (as written, and as URL parsers rewrite it), compatible, NAT64.
      "::ffff:169.254.169.254", "[::ffff:a9fe:a9fe]", "0:0:0:0:0:ffff:a9fe:a9fe", "::a9fe:a9fe", "::169.254.169.254", "64:ff9b::a9fe:a9fe", "64:ff9b::169.254.169.254",
    ]) {
      expect(blockedAddress(address), address).toBe(true);
    }
    for (const address of ["127.0.0.1", "10.0.0.5", "192.168.1.2", "::1", "8.8.8.8", "::ffff:7f00:1", "2001:db8::1", "fec0::1", "64:ff9b::808:808", "not-an-address:"]) {
      expect(blockedAddress(address), address).toBe(false);
    }
    // As a provider URL: the check sees the host as the URL parser writes it.
    const { checkOutbound } = await import("../../core/pipeline/outbound.ts");
    for (const url of ["http://[::ffff:169.254.169.254]/v1", "http://[0:0:0:0:0:ffff:169.254.169.254]/v1", "http://[64:ff9b::a9fe:a9fe]/v1"]) {
      expect((await checkOutbound(url))?.code, url).toBe("egress_blocked");
    }
  });

  test("a redirect from an upstream is not followed, so the provider key never reaches another host", async () => {
    const bait = upstream();
    const redirecting = upstream(() => new Response(null, { status: 302, headers: { location: `${bait.url}/chat/completions` } }));
    const g = await gateway(redirecting.url);
    const response = await chat(g);
    expect(response.status).toBe(502);
    expect(bait.seen).toHaveLength(0);
  });
});

describe("secrets", () => {
  test("provider, admin and caller keys appear in no event, no log line and no error", async () => {
    const echoing = upstream((seen) => Response.json({ error: { message: `Incorrect API key provided: ${seen.headers.authorization}` } }, { status: 401 }));
    const g = await gateway(echoing.url);
    const caller = await createKey(g.gw.log, { name: "c" }, "api");
    const response = await chat(g, {}, { authorization: `Bearer ${caller.secret}` });
    expect(response.status).toBe(502);
    const answer = await response.text();
    await fetch(`${g.url}/api/keys`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const places = [answer, JSON.stringify([...g.gw.log.all()]), JSON.stringify(g.logs())];
    for (const secret of [PROVIDER, ADMIN, caller.secret]) {
      for (const form of [secret, Buffer.from(secret).toString("base64"), encodeURIComponent(secret), secret.slice(-10)]) {
        for (const place of places) expect(place).not.toContain(form);
      }
    }
  });
});

describe("admin API", () => {
  test("SQL injection through ids finds nothing and breaks nothing", async () => {
    const g = await gateway(upstream().url);
    await chat(g);
    const before = g.gw.log.lastSeq;
    for (const id of ["' OR '1'='1", "x'; DROP TABLE events; --", "%27%20OR%201%3D1", "req_\u0000"]) {
      const one = await fetch(`${g.url}/api/requests/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(one.status).toBe(404);
      const del = await fetch(`${g.url}/api/keys/${encodeURIComponent(id)}`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}` } });
      expect(del.status).toBe(404);
    }
    expect(g.gw.log.integrityCheck()).toBe("ok");
    expect([...g.gw.log.all()].length).toBeGreaterThanOrEqual(before);
    expect((await chat(g)).status).toBe(200);
  });

  test("a caller key is not an admin key", async () => {
    const g = await gateway(upstream().url);
    const caller = await createKey(g.gw.log, { name: "c" }, "api");
    const asCaller = { authorization: `Bearer ${caller.secret}` };
    expect((await fetch(`${g.url}/api/keys`, { headers: asCaller })).status).toBe(401);
    expect((await fetch(`${g.url}/api/keys`, { method: "POST", headers: asCaller, body: JSON.stringify({ name: "escalated" }) })).status).toBe(401);
    expect(Object.values(g.gw.projections.get("keys").keys).map((k) => k.name)).toEqual(["c"]);
  });

  test("without admin_key the admin API is off, whoever asks", async () => {
    const g = await startGateway(`providers:\n  - { id: p, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [m] }\n`);
    open.push(g);
    const r = await fetch(`${g.url}/api/keys`, { headers: { authorization: "Bearer anything" } });
    expect(r.status).toBe(403);
  });
});

test("a global IP allowlist refuses other addresses, in the client's dialect", async () => {
  const g = await gateway(upstream().url, "server: { allow_ips: [10.0.0.0/8] }");
  const response = await chat(g);
  expect(response.status).toBe(403);
  expect(await response.json()).toMatchObject({ error: { message: "this address is not allowed to use the gateway" } });
});

describe("credentials and defaults", () => {
  test("hostile credentials in every style: all 401, with one byte-identical body", async () => {
    const g = await gateway(upstream().url);
    const made = await createKey(g.gw.log, { name: "real" }, "api");
    const revoked = await createKey(g.gw.log, { name: "gone" }, "api");
    await fetch(`${g.url}/api/keys/${revoked.id}`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}` } });
    const values = [
      "' OR '1'='1", "\";--", "\\", "a\u0000b", "x".repeat(65_536), "ключ-🔑", `${made.secret.slice(0, -1)}x`, revoked.secret,
      made.secret.toUpperCase(), `${made.secret}x`, "Bearer", "", "sk-sluice-", made.id,
    ];
    const bodies = new Set<string>();
    for (const value of values) {
      const styles: Array<[string, Record<string, string>]> = [
        ["", { authorization: `Bearer ${value}` }], ["", { "x-api-key": value }], ["", { "x-goog-api-key": value }], [`?key=${encodeURIComponent(value)}`, {}],
      ];
      for (const [query, headers] of styles) {
        let response: Response;
        try {
          response = await fetch(`${g.url}/v1/chat/completions${query}`, { method: "POST", headers, body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "x" }] }) });
        } catch {
          continue; // a header value fetch itself refuses to send (NUL, non-ASCII)
        }
        if (response.status === 431 || response.status === 400) continue; // refused by the HTTP layer before auth
        expect(response.status).toBe(401);
        bodies.add(await response.text());
      }
    }
    expect(bodies.size).toBe(1);
    expect([...bodies][0]).not.toContain("sk-sluice");
  });

  test("an admin key shorter than 32 characters stops the start", async () => {
    await expect(startGateway(`admin_key: short-admin-key\n`)).rejects.toThrow(/admin_key: must be at least 32 characters/);
  });

  test("the admin API refuses a page of another origin, even with the key", async () => {
    const g = await gateway(upstream().url);
    const r = await fetch(`${g.url}/api/keys`, { headers: { authorization: `Bearer ${ADMIN}`, origin: "http://evil.test" } });
    expect(r.status).toBe(403);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("route inventory: every route the server registers has a declared auth class", async () => {
    const g = await gateway(upstream().url);
    const { createApp } = await import("../../core/server/app.ts");
    const routes = createApp(g.gw).routes.map((r) => `${r.method} ${r.path}`);
    const classOf = (route: string) =>
      /^GET \/(health|ready|metrics|ui\/\*)?$/.test(route) ? "public"
      : /^\w+ \/api\//.test(route) ? "admin"
      : /^(POST|GET) \/(v1|v1beta)\//.test(route) ? "caller"
      : undefined;
    const undeclared = routes.filter((r) => classOf(r) === undefined);
    expect(undeclared).toEqual([]);
    // And each class holds: admin routes refuse a caller key, caller routes refuse no key once keys exist.
    const caller = await createKey(g.gw.log, { name: "c" }, "api");
    for (const route of routes.filter((r) => classOf(r) === "admin")) {
      const [method, path] = route.split(" ") as [string, string];
      const r = await fetch(`${g.url}${path.replace(/:(\w+)/g, "x")}`, { method, headers: { authorization: `Bearer ${caller.secret}` } });
      expect([401, 403]).toContain(r.status);
    }
  });
});
