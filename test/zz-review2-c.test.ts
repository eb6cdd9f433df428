import { afterEach, describe, test } from "vitest";
import { completion, startFakeUpstream } from "./support/fake-upstream.ts";
import { startGateway, type TestGateway } from "./support/gateway.ts";
import { createKey } from "../core/keys/keys.ts";
import { spentBy } from "../events/projections/keys.ts";

const open: Array<{ stop(): Promise<void> } | TestGateway> = [];
afterEach(async () => { for (const t of open.splice(0).reverse()) await ("close" in t ? t.close() : t.stop()); });

describe("review2 budget", () => {
  test("budget with an unpriced first target and a priced fallback", async () => {
    const up = startFakeUpstream(async (seen) => {
      if (seen.json.model === "free") return new Response(JSON.stringify({ error: { message: "boom" } }), { status: 500, headers: { "content-type": "application/json" } });
      await new Promise((r) => setTimeout(r, 400));
      return Response.json(completion("x", "priced", { prompt_tokens: 0, completion_tokens: 1 }));
    });
    open.push(up);
    const g = await startGateway(`providers:
  - id: p
    kind: openai
    base_url: "${up.url}"
    api_key: sk-test-provider-key-123456
    models: [free, priced]
    model_info: { priced: { max_output: 1, price: { input: 0, output: 1000000 } } }
routes:
  - { name: r, targets: [p/free, p/priced] }
`); open.push(g);
    const { id, secret } = await createKey(g.gw.log, { name: "k", budget_usd: 1 }, "cli");
    await new Promise((r) => setTimeout(r, 1500));
    const ask = () => fetch(`${g.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${secret}` }, body: JSON.stringify({ model: "r", messages: [{ role: "user", content: "hi" }] }) });
    const rs = await Promise.all(Array.from({ length: 5 }, ask));
    console.log("statuses", rs.map((r) => r.status).join(","));
    await new Promise((r) => setTimeout(r, 500));
    console.log("spent", spentBy(g.gw.projections.get("keys"), id, Date.now()), "of budget 1");
    // control: route straight to priced
    const g2 = await startGateway(`providers:
  - id: p
    kind: openai
    base_url: "${up.url}"
    api_key: sk-test-provider-key-123456
    models: [free, priced]
    model_info: { priced: { max_output: 1, price: { input: 0, output: 1000000 } } }
`); open.push(g2);
    const k2 = await createKey(g2.gw.log, { name: "k", budget_usd: 1 }, "cli");
    await new Promise((r) => setTimeout(r, 1500));
    const rs2 = await Promise.all(Array.from({ length: 5 }, () => fetch(`${g2.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${k2.secret}` }, body: JSON.stringify({ model: "priced", messages: [{ role: "user", content: "hi" }] }) })));
    console.log("control statuses", rs2.map((r) => r.status).join(","));
  }, 60000);
});

describe("review2 plugin secrets", () => {
  test("a user executor that throws with its key in the message", async () => {
    const { builtinPlugins } = await import("../plugins/builtin.ts");
    const boom = { hook: "executor", kind: "boom", execute: async (_ir: unknown, ctx: any) => { throw new Error(`upstream refused key ${ctx.provider.api_key}`); } } as any;
    const g = await startGateway(`providers:\n  - { id: b, kind: boom, api_key: sk-canary-EXEC-0123456789abcdef, models: [m] }\n`, { plugins: [...builtinPlugins, boom] }); open.push(g);
    const r = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }) });
    const text = await r.text();
    console.log("client sees canary:", text.includes("sk-canary-EXEC"), r.status, text.slice(0, 200));
    const events = g.gw.log.read(0, 10000, g.gw.log.lastSeq);
    console.log("events with canary:", events.filter((e) => JSON.stringify(e).includes("sk-canary-EXEC")).map((e) => e.type).join(","));
    console.log("log lines with canary:", g.logs().filter((l) => JSON.stringify(l).includes("sk-canary-EXEC")).length);
  }, 30000);
});
