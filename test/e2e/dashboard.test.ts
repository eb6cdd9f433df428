// The dashboard (SPEC §4, issue 7 points 5 and 8): its shell and headers over HTTP, the files
// embedded in a compiled binary, and the page driven in headless Chromium (Debian's chromium,
// through playwright-core) against a real gateway that served real requests: sign in with the
// admin key, a chart drawn from them, a request's trail and events, a key created and revoked,
// the live tail. Screenshots of each step go to test/artifacts/dashboard-*.png.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Subprocess } from "bun";
import { Elysia } from "elysia";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminRoutes } from "../../core/server/admin.ts";
import { apiLogRoutes } from "../../core/server/api-log.ts";
import { usageRoutes } from "../../core/server/api-usage.ts";
import { dashboardRoutes, loadDashboard, SOURCES } from "../../core/server/dashboard.ts";
import { startFakeUpstream, type FakeUpstream } from "../support/fake-upstream.ts";
import { startGateway, type TestGateway } from "../support/gateway.ts";

// Browser globals, for the functions that run in the page (the project's TypeScript lib has no DOM).
declare const document: any, location: any;

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ARTIFACTS = join(ROOT, "test", "artifacts");
const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "admin-key-dashboard-0123456789abcdef-xyz";
const PRICE = { input: 1000, output: 2000 };

let up: FakeUpstream;
let g: TestGateway;
/** Where the dashboard and /api answer: the gateway itself once app.ts mounts the dashboard, else an app beside it. */
let base: string;
let mounted = false;
let stopBeside: (() => void) | undefined;
let callerKey: string;
const ids: Record<string, string> = {};

const behaviour = (seen: { json: Record<string, unknown> }) => {
  const model = String(seen.json.model);
  if (model === "flaky") return Response.json({ error: { message: "overloaded, try later" } }, { status: 503 });
  if (model === "broken") return Response.json({ error: { message: "boom" } }, { status: 500 });
  return Response.json({
    id: "x", object: "chat.completion", created: 1, model,
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
  });
};

async function send(name: string, model: string): Promise<string> {
  const response = await fetch(`${g.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${callerKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: `hi from ${name}` }] }),
  });
  await response.text();
  ids[name] = response.headers.get("x-sluice-request-id")!;
  expect(ids[name]).toMatch(/^req_/);
  return ids[name]!;
}

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${base}/api${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...(init.headers as Record<string, string> ?? {}) } });

beforeAll(async () => {
  up = startFakeUpstream(behaviour);
  g = await startGateway(`
admin_key: ${ADMIN}
providers:
  - id: p
    kind: openai
    base_url: "${up.url}"
    api_key: sk-p-0123456789
    models: [m, flaky, broken]
    model_info: { m: { price: ${JSON.stringify(PRICE)} } }
  - id: q
    kind: openai
    base_url: "${up.url}"
    api_key: sk-q-0123456789
    models: [m]
    model_info: { m: { price: ${JSON.stringify(PRICE)} } }
routes:
  - { name: smart, targets: [p/flaky, q/m] }
`);
  const probe = await fetch(`${g.url}/`);
  await probe.arrayBuffer();
  mounted = probe.status === 200 && (probe.headers.get("content-type") ?? "").startsWith("text/html");
  if (mounted) base = g.url;
  else {
    // app.ts does not mount the dashboard (yet): the same plugins, beside the gateway.
    const beside = new Elysia().use(dashboardRoutes(g.gw)).use(adminRoutes(g.gw)).use(usageRoutes(g.gw)).use(apiLogRoutes(g.gw))
      .listen({ hostname: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${beside.server!.port}`;
    stopBeside = () => void beside.stop(true);
  }
  // A caller key for the traffic below (the dashboard's own key test then never opens the gateway up).
  const made = await api("/keys", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "traffic" }) });
  expect(made.status).toBe(201);
  callerKey = ((await made.json()) as { key: string }).key;

  await send("ok1", "p/m");
  await send("ok2", "p/m");
  await send("fallback", "smart");
  await send("ok3", "q/m");
  await send("broken", "p/broken");
  await send("ok4", "p/m");
}, 30_000);

afterAll(async () => {
  stopBeside?.();
  await g?.close();
  await up?.stop();
});

describe("the dashboard over HTTP", () => {
  test("GET / is the shell: a strict CSP, no inline script but the hashed import map, no data", async () => {
    const res = await fetch(`${base}/`);
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const csp = res.headers.get("content-security-policy")!;
    const directives = new Map(csp.split(";").map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
    expect(directives.get("default-src")).toEqual(["'none'"]);
    expect(directives.get("connect-src")).toEqual(["'self'"]);
    expect(directives.get("frame-ancestors")).toEqual(["'none'"]);
    const scripts = directives.get("script-src")!;
    expect(scripts[0]).toBe("'self'");
    expect(scripts.join(" ")).not.toMatch(/unsafe|\*|http|data:/);
    // The one inline script is the import map, allowed by its hash; every other script has a src.
    const inline = [...body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].filter(([, , text]) => text!.trim() !== "");
    expect(inline).toHaveLength(1);
    expect(inline[0]![1]).toContain('type="importmap"');
    const hash = new Bun.CryptoHasher("sha256").update(inline[0]![2]!).digest("base64");
    expect(scripts).toContain(`'sha256-${hash}'`);
    const map = JSON.parse(inline[0]![2]!) as { imports: Record<string, string> };
    expect(Object.keys(map.imports).sort()).toEqual(["htm", "preact", "preact/hooks", "uplot"]);
    for (const url of Object.values(map.imports)) expect(url).toMatch(/^\/ui\/vendor\/[a-z]+\.mjs\?v=[0-9a-f]{12}$/);
    // Nothing from anywhere else, and the admin key nowhere.
    expect(body).not.toMatch(/https?:\/\//);
    expect(body).not.toContain(ADMIN);
  });

  test("GET /ui/*: the app and the vendor files, typed, gzipped, long-cached under the current version", async () => {
    const { version, assets } = await loadDashboard();
    const app = await fetch(`${base}/ui/app.js`);
    expect(app.status).toBe(200);
    expect(app.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(app.headers.get("cache-control")).toBe("no-cache");
    expect(app.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await app.text()).toBe(assets.get("app.js")!.body);

    const vendor = await fetch(`${base}/ui/vendor/uplot.mjs?v=${version}`, { headers: { "accept-encoding": "gzip" }, decompress: false } as RequestInit);
    expect(vendor.status).toBe(200);
    expect(vendor.headers.get("content-encoding")).toBe("gzip");
    expect(vendor.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(Bun.gunzipSync(new Uint8Array(await vendor.arrayBuffer())).length).toBe(Buffer.byteLength(assets.get("vendor/uplot.mjs")!.body));

    const css = await fetch(`${base}/ui/style.css`);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    const etag = css.headers.get("etag")!;
    await css.arrayBuffer();
    const again = await fetch(`${base}/ui/style.css`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);

    for (const path of ["/ui/nope.js", "/ui/../package.json", "/ui/index.html", "/ui/vendor/"]) {
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      expect(res.status, path).toBe(404);
    }
    // The shell is public; the data is not.
    const data = await fetch(`${base}/api/keys`);
    await data.arrayBuffer();
    expect(data.status).toBe(401);
  });

  test("the embedded files are the ones the source tree serves (assets.js and SOURCES agree)", () => {
    const text = readFileSync(join(ROOT, "core", "server", "dashboard", "assets.js"), "utf8");
    const imports = new Map([...text.matchAll(/^import (\w+) from "([^"]+)" with \{ type: "text" \};$/gm)].map(([, name, path]) => [name!, path!]));
    const exported = new Map([...text.matchAll(/^\s+"([^"]+)": (\w+),$/gm)].map(([, served, name]) => [served!, imports.get(name!)]));
    expect(Object.fromEntries(exported)).toEqual(SOURCES);
  });
});

// ---------------------------------------------------------------------------------------------
// The compiled binary

/** The running Bun (under `bunx --bun` the executable may be its `bunx` twin). */
function bunExecutable(): string {
  const name = basename(process.execPath);
  if (!name.startsWith("bunx")) return process.execPath;
  const twin = join(dirname(process.execPath), name.replace(/^bunx/, "bun"));
  return existsSync(twin) ? twin : process.execPath;
}

/** package.json's build command, for `entry`, writing to `outfile`. */
function buildCommand(entry: string, outfile: string): string[] {
  const script = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.build!;
  const words = script.trim().split(/\s+/);
  expect(words.slice(0, 3)).toEqual(["bun", "build", "--compile"]);
  words[words.indexOf("--outfile") + 1] = outfile;
  words[words.indexOf("sluice.ts")] = entry;
  return [bunExecutable(), ...words.slice(1)];
}

describe("the compiled binary", () => {
  test("serves the dashboard from files embedded in it, run where no source is", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-dashboard-bin-"));
    const procs: Subprocess[] = [];
    try {
      // With app.ts mounting the dashboard, the real CLI; before that, the plugin alone (same flags).
      let entry = join(ROOT, "sluice.ts");
      if (!mounted) {
        entry = join(dir, "entry.ts");
        writeFileSync(entry, `import { dashboardRoutes } from ${JSON.stringify(join(ROOT, "core", "server", "dashboard.ts"))};
const app = dashboardRoutes(undefined as never);
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => app.handle(request) });
console.log("port " + server.port);
`);
      }
      const binary = join(dir, "sluice-dash");
      const build = Bun.spawn(buildCommand(entry, binary), { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      procs.push(build);
      const [out, err, code] = await Promise.all([new Response(build.stdout).text(), new Response(build.stderr).text(), build.exited]);
      if (code !== 0) throw new Error(`bun build failed (exit ${code}):\n${out}${err}`);
      const cwd = join(dir, "run");
      mkdirSync(cwd);
      let url: string;
      if (mounted) {
        const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
        const port = probe.port!;
        probe.stop(true);
        writeFileSync(join(cwd, "sluice.yaml"), `admin_key: ${ADMIN}\nlog: { level: warn }\nproviders:\n  - { id: p, kind: openai, base_url: "${up.url}", api_key: sk-p-0123456789, models: [m] }\n`);
        const proc = Bun.spawn([binary, "serve", "--port", String(port), "--data", "data", "--config", "sluice.yaml"], { cwd, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
        procs.push(proc);
        url = `http://127.0.0.1:${port}`;
      } else {
        const proc = Bun.spawn([binary], { cwd, stdin: "ignore", stdout: "pipe", stderr: "ignore" });
        procs.push(proc);
        const reader = proc.stdout.getReader();
        const { value } = await reader.read();
        url = `http://127.0.0.1:${/port (\d+)/.exec(new TextDecoder().decode(value))![1]}`;
      }
      let index: Response | undefined;
      for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
        try {
          index = await fetch(`${url}/`, { signal: AbortSignal.timeout(1000) });
          break;
        } catch {
          await Bun.sleep(50);
        }
      }
      const { assets } = await loadDashboard();
      expect(index?.status).toBe(200);
      expect(await index!.text()).toBe(assets.get("index.html")!.body);
      for (const name of ["app.js", "style.css", "vendor/preact.mjs", "vendor/hooks.mjs", "vendor/htm.mjs", "vendor/uplot.mjs", "vendor/uplot.css"]) {
        const res = await fetch(`${url}/ui/${name}`);
        expect(res.status, name).toBe(200);
        expect(await res.text(), name).toBe(assets.get(name)!.body);
      }
    } finally {
      for (const proc of procs) if (proc.exitCode === null) proc.kill("SIGKILL");
      await Promise.all(procs.map((proc) => proc.exited));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// In a browser

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard.test.ts: ${CHROMIUM} is missing, so the browser tests are skipped (apt-get install chromium)`);

describe.skipIf(!hasChromium)("the dashboard in headless Chromium", () => {
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const hosts = new Set<string>();

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) => {
      // A tail closed by leaving the Live tab is aborted on purpose.
      if (!request.url().includes("/api/events/stream")) problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    });
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (url.protocol !== "data:") hosts.add(url.host);
    });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
  const tab = async (label: string) => {
    await page.getByRole("tab", { name: label }).click();
    await page.waitForFunction((id) => location.hash === `#${id}`, label.toLowerCase());
  };

  test("sign in with the admin key: the overview's charts are drawn from the requests served", { timeout: 60_000 }, async () => {
    await page.goto(`${base}/`);
    await page.getByLabel("Admin key").fill("wrong-key-0123456789");
    const seen = problems.length;
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "invalid or missing admin key" }).waitFor();
    // Chromium logs the refused key's 401 as a console error: the one expected.
    expect(problems.splice(seen)).toEqual(["console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)"]);
    await shot("login");
    await page.getByLabel("Admin key").fill(ADMIN);
    await page.getByRole("button", { name: "Sign in" }).click();

    const usage = (await (await api("/usage")).json()) as { totals: { requests: number; failed: number; cost_usd: number } };
    // The six requests above; p/broken's is the one that failed.
    expect(usage.totals.requests).toBe(6);
    expect(usage.totals.failed).toBe(1);
    const traffic = page.locator('.chart[data-chart="Requests and errors per hour"]');
    await page.waitForFunction(
      (want) => document.querySelector('.chart[data-chart="Requests and errors per hour"]')?.getAttribute("data-total") === String(want),
      usage.totals.requests + usage.totals.failed,
    );
    await traffic.locator("canvas").waitFor();
    // Bars in the requests colour (#2f6fde) are on the canvas: drawn data, not only axes.
    const painted = await traffic.locator("canvas").evaluate((canvas: any) => {
      const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      let blue = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i]! - 47) < 12 && Math.abs(data[i + 1]! - 111) < 12 && Math.abs(data[i + 2]! - 222) < 12 && data[i + 3]! > 200) blue++;
      }
      return blue;
    });
    expect(painted).toBeGreaterThan(10);
    const cost = page.locator('.chart[data-chart="Cost per hour"]');
    await cost.locator("canvas").waitFor();
    expect(Number(await cost.getAttribute("data-total"))).toBeCloseTo(usage.totals.cost_usd, 9);
    const card = (label: string) => page.locator(".card", { has: page.locator(".card-label", { hasText: new RegExp(`^${label}$`) }) }).locator(".card-value");
    await expect(card("Requests").textContent()).resolves.toBe("6");
    await expect(card("Errors").textContent()).resolves.toBe("1");
    await expect(card("Tokens").textContent()).resolves.toBe(String(5 * 18));

    // The key is in this tab's sessionStorage only: not in localStorage, a cookie or the URL.
    const stored = await page.evaluate(() => ({ session: sessionStorage.getItem("sluice.admin-key"), local: localStorage.length, cookie: document.cookie, url: location.href }));
    expect(stored).toEqual({ session: ADMIN, local: 0, cookie: "", url: `${base}/` });
    await shot("overview");
  });

  test("providers, routes and usage", { timeout: 60_000 }, async () => {
    await tab("Providers");
    await page.locator(".panel h3", { hasText: /^q$/ }).waitFor();
    await page.locator("td.mono", { hasText: "p/flaky" }).first().waitFor();
    await shot("providers");

    await tab("Routes");
    await page.locator(".panel h3", { hasText: "smart" }).waitFor();
    await page.locator("td.mono", { hasText: "q/m" }).waitFor();
    await shot("routes");

    await tab("Usage");
    const table = page.locator("table.usage");
    await table.locator("tbody tr").first().waitFor();
    // By provider and model of the target that answered: p/m, p/broken, q/m (the fallback's is q/m).
    await expect(table.locator("tbody tr").count()).resolves.toBe(3);
    await expect(table.locator("tfoot td.num").first().textContent()).resolves.toBe("6");
    await page.getByLabel("caller").check();
    await table.locator("td", { hasText: "traffic (" }).first().waitFor();
    await shot("usage");
  });

  test("the request log: a click opens the request's decision trail and its events", { timeout: 60_000 }, async () => {
    await tab("Requests");
    const rows = page.locator("tr[data-request]");
    await rows.first().waitFor();
    await expect(rows.count()).resolves.toBe(6);
    await page.locator(`tr[data-request="${ids.fallback}"]`).click();
    const trail = page.locator("ol.trail");
    await trail.waitFor();
    await expect(trail.textContent()).resolves.toContain("route smart");
    await trail.locator("li", { hasText: "tried p/flaky: 503" }).waitFor();
    await expect(trail.locator("li", { hasText: "tried p/flaky: 503" }).textContent()).resolves.toContain("fell back");
    await trail.locator("li", { hasText: "answered 200 by q/m" }).waitFor();
    const timeline = page.locator("ol.timeline");
    for (const type of ["request.received", "route.decided", "attempt.failed", "attempt.succeeded", "request.completed"]) {
      await timeline.locator("summary", { hasText: type }).first().waitFor();
    }
    const failed = timeline.locator("li", { has: page.locator("summary", { hasText: "attempt.failed" }) });
    await failed.locator("summary").click();
    await expect(failed.locator("pre").textContent()).resolves.toContain('"target": "p/flaky"');
    await shot("request");

    // A filter, then the failed one.
    await page.getByLabel("outcome").selectOption("failed");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForFunction(() => document.querySelectorAll("tr[data-request]").length === 1);
    await page.locator(`tr[data-request="${ids.broken}"]`).click();
    // The upstream's 500 is the gateway's 502 (upstream_error), after the one target it had.
    await trail.locator("li", { hasText: "tried p/broken: 500" }).waitFor();
    await trail.locator("li", { hasText: "failed 502 upstream_error after 1 attempt" }).waitFor();
  });

  test("keys: create one (shown once), then revoke it", { timeout: 60_000 }, async () => {
    await tab("Keys");
    await page.getByLabel("Name").fill("dashboard-temp");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = (await page.locator("#new-key").textContent())!;
    expect(secret).toMatch(/^sk-sluice-/);
    const row = page.locator("table.keys tr", { hasText: "dashboard-temp" });
    await row.waitFor();
    const id = (await row.getAttribute("data-key"))!;
    await shot("key-created");
    await page.getByRole("button", { name: "Done" }).click();
    await expect(page.locator("#new-key").count()).resolves.toBe(0);
    expect(await page.content()).not.toContain(secret);

    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByRole("button", { name: "Yes, revoke" }).click();
    await row.locator(".pill", { hasText: "revoked" }).waitFor();
    const keys = (await (await api("/keys")).json()) as { data: Array<{ id: string; name: string; revoked_at?: number }> };
    expect(keys.data.find((k) => k.id === id)).toMatchObject({ name: "dashboard-temp", revoked_at: expect.any(Number) });
    expect(keys.data.find((k) => k.name === "traffic")?.revoked_at).toBeUndefined();
    await shot("key-revoked");
  });

  test("live: a new request appears as it happens; leaving the tab closes the tail", { timeout: 60_000 }, async () => {
    const listeners = () => (g.gw.log as unknown as { listeners: Set<unknown> }).listeners.size;
    const before = listeners();
    await tab("Live");
    await page.locator("#live-status", { hasText: "live" }).waitFor();
    await expect.poll(listeners).toBe(before + 1);
    const id = await send("live", "p/m");
    const received = page.locator('tr[data-type="request.received"]', { hasText: id });
    await received.waitFor();
    await page.locator('tr[data-type="request.completed"]', { hasText: id }).waitFor();
    await shot("live");
    // Its request id opens the request.
    await received.getByRole("link", { name: id }).click();
    await page.locator("ol.trail li", { hasText: "answered 200 by p/m" }).waitFor();
    await expect.poll(listeners).toBe(before);
  });

  test("no console errors, no request to any other host", () => {
    expect(problems).toEqual([]);
    expect([...hosts]).toEqual([new URL(base).host]);
  });
});
