import { readFileSync } from "node:fs";
import { Elysia } from "elysia";
import type { Gateway } from "../gateway.ts";

// The dashboard (SPEC §4: "served at / by the same process"): a page of plain browser ES modules
// (Preact + htm, uPlot for charts) that reads everything from /api/* with the admin key the user
// types in. The shell is public and holds no data. Its files are embedded into the compiled
// binary by text imports (dashboard/assets.js); no CDN, no build step at run time.
//
//   GET /                 index.html: no-cache, a strict Content-Security-Policy
//   GET /ui/<file>        app.js, style.css and vendor/* (Preact, hooks, htm, uPlot and its CSS);
//                         under ?v=<the current version> they are cached for a year (index.html
//                         names them so), otherwise revalidated by ETag

/** Where each served file comes from, relative to dashboard/ (as in dashboard/assets.js). */
export const SOURCES: Record<string, string> = {
  "index.html": "./index.html",
  "app.js": "./app.js",
  "style.css": "./style.css",
  "vendor/preact.mjs": "../../../node_modules/preact/dist/preact.mjs",
  "vendor/hooks.mjs": "../../../node_modules/preact/hooks/dist/hooks.mjs",
  "vendor/htm.mjs": "../../../node_modules/htm/dist/htm.module.js",
  "vendor/uplot.mjs": "../../../node_modules/uplot/dist/uPlot.esm.js",
  "vendor/uplot.css": "../../../node_modules/uplot/dist/uPlot.min.css",
};

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** Headers on every dashboard response. */
const SECURITY = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

interface Asset {
  body: string;
  gzip: Uint8Array;
  type: string;
  etag: string;
}

export interface Dashboard {
  /** A hash of every file: the `v` that index.html puts on the URLs it names. */
  version: string;
  /** The Content-Security-Policy sent with index.html. */
  csp: string;
  /** Served files by name (index.html, app.js, vendor/preact.mjs, ...). */
  assets: Map<string, Asset>;
}

const sha256 = (text: string, encoding: "hex" | "base64") => new Bun.CryptoHasher("sha256").update(text).digest(encoding);

/** The files as text: embedded by the bundler; read from the source tree where text imports are not honoured (vitest). */
async function sources(): Promise<Record<string, string>> {
  try {
    const { embedded } = await import("./dashboard/assets.js");
    if (Object.keys(SOURCES).every((name) => typeof embedded[name] === "string")) return embedded;
  } catch {
    // A loader that treats the files as modules (vite, under vitest): read them as files below.
  }
  return Object.fromEntries(Object.entries(SOURCES).map(([name, path]) => [name, readFileSync(new URL(path, new URL("./dashboard/", import.meta.url)), "utf8")]));
}

/** The served form of the files: vendor source maps dropped, index.html filled in, each gzipped once. */
export function buildDashboard(files: Record<string, string>): Dashboard {
  const texts = new Map<string, string>();
  for (const [name, text] of Object.entries(files)) {
    // Vendor files name source maps that are not shipped: a browser with devtools open would ask.
    texts.set(name, name.startsWith("vendor/") ? text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n") : text);
  }
  const version = sha256([...texts.entries()].map(([name, text]) => `${name}\0${text}`).join("\0"), "hex").slice(0, 12);
  const at = (name: string) => `/ui/${name}?v=${version}`;
  const importMap = JSON.stringify({
    imports: { preact: at("vendor/preact.mjs"), "preact/hooks": at("vendor/hooks.mjs"), htm: at("vendor/htm.mjs"), uplot: at("vendor/uplot.mjs") },
  });
  const template = texts.get("index.html") ?? "";
  if (!template.includes("{{importmap}}")) throw new Error("dashboard/index.html has no {{importmap}} placeholder");
  texts.set("index.html", template.replaceAll("{{v}}", version).replace("{{importmap}}", importMap));
  // The import map is the page's only inline script: allowed by its hash, nothing else inline runs.
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${sha256(importMap, "base64")}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  const assets = new Map<string, Asset>();
  for (const [name, body] of texts) {
    assets.set(name, {
      body,
      gzip: Bun.gzipSync(body, { level: 9 }),
      type: TYPES[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream",
      etag: `"${sha256(body, "hex").slice(0, 16)}"`,
    });
  }
  return { version, csp, assets };
}

let loading: Promise<Dashboard> | undefined;

/** The dashboard's files, loaded once, on first use. */
export function loadDashboard(): Promise<Dashboard> {
  loading ??= sources().then(buildDashboard).catch((error: unknown) => {
    loading = undefined; // try again on the next request
    throw error;
  });
  return loading;
}

function serve(request: Request, asset: Asset, headers: Record<string, string>): Response {
  const all: Record<string, string> = { ...SECURITY, ...headers, "content-type": asset.type, etag: asset.etag, vary: "accept-encoding" };
  if (request.headers.get("if-none-match") === asset.etag) return new Response(null, { status: 304, headers: all });
  if (/\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")) {
    return new Response(asset.gzip, { headers: { ...all, "content-encoding": "gzip" } });
  }
  return new Response(asset.body, { headers: all });
}

const notFound = () => new Response("not found\n", { status: 404, headers: { ...SECURITY, "content-type": "text/plain; charset=utf-8" } });

/** GET / and GET /ui/*: the dashboard's shell. Its data comes from /api/*, behind the admin key. */
export function dashboardRoutes(_gw: Gateway) {
  return new Elysia({ name: "dashboard" })
    .get("/", async ({ request }) => {
      const dashboard = await loadDashboard();
      return serve(request, dashboard.assets.get("index.html")!, { "content-security-policy": dashboard.csp, "cache-control": "no-cache" });
    })
    .get("/ui/*", async ({ request, params }) => {
      const dashboard = await loadDashboard();
      const name = params["*"];
      const asset = name === "index.html" ? undefined : dashboard.assets.get(name);
      if (!asset) return notFound();
      const current = new URL(request.url).searchParams.get("v") === dashboard.version;
      return serve(request, asset, { "cache-control": current ? "public, max-age=31536000, immutable" : "no-cache" });
    });
}
