import { afterEach, describe, test } from "vitest";
import { startFakeUpstream } from "./support/fake-upstream.ts";
import { startGateway, type TestGateway } from "./support/gateway.ts";
import { createKey } from "../core/keys/keys.ts";

const open: Array<{ stop(): Promise<void> } | TestGateway> = [];
afterEach(async () => { for (const t of open.splice(0).reverse()) await ("close" in t ? t.close() : t.stop()); });

describe("review2", () => {
  test("pre-auth data: URL backtracking (keyed gateway, no credential)", async () => {
    const up = startFakeUpstream(); open.push(up);
    const g = await startGateway(`providers:\n  - { id: p, kind: openai, base_url: "${up.url}", api_key: sk-test-provider-key-123456, models: [m] }\n`); open.push(g);
    await createKey(g.gw.log, { name: "k" }, "cli");
    for (let i = 0; i < 50 && !(g.gw.projections.get("keys") as any).keys; i++) await new Promise((r) => setTimeout(r, 50));
    for (const n of [50_000, 100_000, 200_000]) {
      const url = "data:" + "a".repeat(n);
      const t = performance.now();
      const pending = fetch(`${g.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }] }] }) });
      await new Promise((r) => setTimeout(r, 20));
      const h0 = performance.now();
      const h = await fetch(`${g.url}/health`);
      const healthMs = performance.now() - h0;
      const r = await pending;
      console.log(`data-url n=${n}: status ${r.status} ${(await r.text()).slice(0, 80)} total ${((performance.now() - t) / 1000).toFixed(1)}s; /health waited ${(healthMs / 1000).toFixed(1)}s`);
    }
    for (const n of [100_000]) {
      const url = "data:" + "a".repeat(n);
      const t = performance.now();
      const r = await fetch(`${g.url}/v1/responses`, { method: "POST", body: JSON.stringify({ model: "m", input: [{ role: "user", content: [{ type: "input_image", image_url: url }] }] }) });
      console.log(`responses data-url n=${n}: status ${r.status} ${((performance.now() - t) / 1000).toFixed(1)}s`);
    }
  }, 600000);
});
