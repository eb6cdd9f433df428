import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { createKey } from "../keys/keys.ts";
import type { Plugin } from "../plugins/hooks.ts";
import { startServer } from "./serve.ts";

// `sluice keys selftest`: proves budget enforcement end to end on this machine, against a fake
// upstream on 127.0.0.1: a key with a $3 budget, a model priced $1 per output token that answers
// one token, and a burst of concurrent requests. Reserve-then-settle must let exactly 3 through,
// record $3 spent, and refuse the next request. Nothing outside a temp directory is touched.

export interface SelftestResult {
  ok: boolean;
  lines: string[];
}

export async function budgetSelftest(builtins: Plugin[], burst = 20): Promise<SelftestResult> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-selftest-"));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let upstreamCalls = 0;
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      upstreamCalls++;
      await gate;
      return Response.json({
        id: "selftest", object: "chat.completion", created: 1, model: "priced",
        choices: [{ index: 0, message: { role: "assistant", content: "x" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 },
      });
    },
  });
  const config = join(dir, "sluice.yaml");
  writeFileSync(config, `providers:
  - id: fake
    kind: openai
    base_url: http://127.0.0.1:${upstream.port}/v1
    models: [priced]
    model_info: { priced: { max_output: 1, price: { input: 0, output: 1000000 } } }
`);
  const running = await startServer({ config, port: 0, host: "127.0.0.1", data: join(dir, "data") }, builtins, { logger: pino({ level: "silent" }) });
  const lines: string[] = [];
  try {
    const { secret } = await createKey(running.gw.log, { name: "selftest", budget_usd: 3, budget_period: "total" }, "cli");
    const ask = () => fetch(`${running.url}/v1/chat/completions`, {
      method: "POST", headers: { authorization: `Bearer ${secret}` },
      body: JSON.stringify({ model: "priced", messages: [{ role: "user", content: "x" }] }),
    }).then(async (r) => ({ status: r.status, body: await r.text() }));
    const answers = Array.from({ length: burst }, ask);
    // Let every request reach admission before the upstream answers any of them.
    for (let i = 0; i < 100 && upstreamCalls < 3; i++) await Bun.sleep(10);
    await Bun.sleep(50);
    release();
    const results = await Promise.all(answers);
    const admitted = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429 && r.body.includes("insufficient_quota")).length;
    const spent = [...running.gw.log.all()]
      .filter((e) => e.type === "request.completed")
      .reduce((n, e) => n + ((e.data as { cost_usd?: number }).cost_usd ?? 0), 0);
    const after = await ask();
    const checks: Array<[string, boolean]> = [
      [`${burst} concurrent requests on a $3 budget at $1 each: ${admitted} admitted (want 3)`, admitted === 3],
      [`${refused} refused with 429 insufficient_quota (want ${burst - 3})`, refused === burst - 3],
      [`upstream called ${upstreamCalls} times (want 3)`, upstreamCalls === 3],
      [`$${spent.toFixed(6)} recorded as spent (want $3.000000)`, Math.abs(spent - 3) < 1e-9],
      [`the next request: ${after.status} (want 429)`, after.status === 429],
    ];
    for (const [line, ok] of checks) lines.push(`${ok ? "ok  " : "FAIL"} ${line}`);
    return { ok: checks.every(([, ok]) => ok), lines };
  } finally {
    await running.stop("selftest");
    await upstream.stop(true);
    rmSync(dir, { recursive: true, force: true });
  }
}
