import { connect } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { completion, startFakeUpstream } from "./support/fake-upstream.ts";
import { startGateway, type TestGateway } from "./support/gateway.ts";

const open: Array<{ stop(): Promise<void> } | TestGateway> = [];
afterEach(async () => { for (const t of open.splice(0).reverse()) await ("close" in t ? t.close() : t.stop()); });

function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write(text));
    let out = ""; s.on("data", (d) => { out += d; }); s.on("end", () => resolve(out)); s.on("error", (e) => resolve("ERR " + e));
    setTimeout(() => { s.destroy(); resolve(out || "TIMEOUT"); }, 3000);
  });
}

describe("review", () => {
  test("host header variants in open-loopback mode", async () => {
    const up = startFakeUpstream(); open.push(up);
    const g = await startGateway(`providers:\n  - { id: p, kind: openai, base_url: "${up.url}", api_key: sk-test-provider-key-123456, models: [m] }\n`); open.push(g);
    const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] });
    for (const host of [null, "", "evil.test", "localhost.evil.test", "127.0.0.1.nip.io", "LOCALHOST", "127.0.0.1:80@evil.test", "localhost:abc", "127.999.999.999", "127.0.0.1 ", "evil.test, localhost", "[::1]", "0.0.0.0", "127.1", "2130706433", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"]) {
      const hdr = host === null ? "" : `Host: ${host}\r\n`;
      const res = await raw(g.port, `POST /v1/chat/completions HTTP/1.1\r\n${hdr}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      console.log(JSON.stringify(host), "->", res.split("\r\n")[0]);
    }
    // two Host headers
    const res = await raw(g.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nHost: evil.test\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    console.log("dup host ->", res.split("\r\n")[0]);
    const res2 = await raw(g.port, `POST http://evil.test/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    console.log("absolute-form evil/localhost ->", res2.split("\r\n")[0]);
    const res3 = await raw(g.port, `POST http://localhost/v1/chat/completions HTTP/1.1\r\nHost: evil.test\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    console.log("absolute-form localhost/evil ->", res3.split("\r\n")[0]);
    for (const origin of ["null", "http://localhost.evil.test", "http://127.0.0.1.evil.test", "http://evil.test#@localhost", "http://localhost@evil.test", "chrome-extension://abc", "http://[::1]"]) {
      const r = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", headers: { origin }, body });
      console.log("origin", origin, "->", r.status);
    }
  }, 60000);

  test("two-star provider model pattern + long model name", async () => {
    const up = startFakeUpstream(); open.push(up);
    const g = await startGateway(`providers:\n  - { id: p, kind: openai, base_url: "${up.url}", api_key: sk-test-provider-key-123456, models: ["*/*:free"] }\n`); open.push(g);
    for (const n of [10000, 40000, 80000]) {
      const t = performance.now();
      const r = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "/".repeat(n), messages: [{ role: "user", content: "hi" }] }) });
      const t2 = performance.now();
      const h = await fetch(`${g.url}/health`); // was the loop blocked?
      console.log("model len", n, "status", r.status, ((t2 - t) / 1000).toFixed(1), "s");
    }
  }, 300000);
});
