import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Plugin } from "../../core/plugins/hooks.ts";
import { builtinPlugins } from "../../plugins/builtin.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { oneProvider, startGateway, type TestGateway } from "../support/gateway.ts";

// DNS rebinding and cross-site requests against an open loopback gateway (RELIABILITY T24).

let upstream: FakeUpstream;
let open: TestGateway;

beforeAll(async () => {
  upstream = startFakeUpstream();
  open = await startGateway(oneProvider(upstream.url));
});

afterAll(async () => {
  await open.close();
  await upstream.stop();
});

/** A raw HTTP/1.1 request, so the Host header is exactly what a rebinding browser would send. */
function raw(port: number, path: string, headers: Record<string, string>, body = ""): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString();
    });
    socket.on("end", () => resolve({ status: Number(data.split(" ")[1]), text: data.slice(data.indexOf("\r\n\r\n") + 4) }));
    socket.on("error", reject);
    const lines = [`POST ${path} HTTP/1.1`, ...Object.entries({ ...headers, "content-length": String(Buffer.byteLength(body)), connection: "close" }).map(([k, v]) => `${k}: ${v}`)];
    socket.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
  });
}

const chat = JSON.stringify({ model: "fake-model", messages: [{ role: "user", content: "x" }] });

describe("open loopback mode", () => {
  test("loopback host names are served", async () => {
    for (const host of [`127.0.0.1:${open.port}`, `localhost:${open.port}`, "localhost"]) {
      expect((await raw(open.port, "/v1/chat/completions", { host, "content-type": "application/json" }, chat)).status).toBe(200);
    }
  });

  test("a rebinding host name gets a 403 in the dialect, and nothing reaches the upstream", async () => {
    upstream.reset();
    for (const host of [`evil.test:${open.port}`, `localhost.evil.test:${open.port}`, `127.0.0.1.nip.io:${open.port}`]) {
      const reply = await raw(open.port, "/v1/chat/completions", { host, "content-type": "application/json" }, chat);
      expect(reply.status).toBe(403);
      expect(JSON.parse(reply.text).error.type).toBe("permission_error");
    }
    const anthropic = await raw(open.port, "/v1/messages", { host: "evil.test", "content-type": "application/json" }, "{}");
    expect(anthropic.status).toBe(403);
    expect(JSON.parse(anthropic.text).type).toBe("error");
    expect(upstream.seen.length).toBe(0);
  });

  test("a foreign browser origin gets a 403; a loopback origin is served", async () => {
    const foreign = await raw(open.port, "/v1/chat/completions", { host: `127.0.0.1:${open.port}`, origin: "http://evil.test", "content-type": "application/json" }, chat);
    expect(foreign.status).toBe(403);
    const sandboxed = await raw(open.port, "/v1/chat/completions", { host: `127.0.0.1:${open.port}`, origin: "null", "content-type": "application/json" }, chat);
    expect(sandboxed.status).toBe(403);
    const local = await raw(open.port, "/v1/chat/completions", { host: `127.0.0.1:${open.port}`, origin: "http://localhost:5173", "content-type": "application/json" }, chat);
    expect(local.status).toBe(200);
  });
});

test("with caller auth, host names are the operator's business", async () => {
  const auth: Plugin = { hook: "auth", name: "any", authenticate: () => ({ caller: "key_x" }) };
  const keyed = await startGateway(oneProvider(upstream.url), { plugins: [...builtinPlugins, auth] });
  try {
    expect((await raw(keyed.port, "/v1/chat/completions", { host: "gateway.internal", "content-type": "application/json" }, chat)).status).toBe(200);
  } finally {
    await keyed.close();
  }
});
