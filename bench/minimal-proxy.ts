// The baseline: about the least an HTTP proxy in Bun can do. No parsing, no logging, no limits.
//   bun bench/minimal-proxy.ts <port> <upstream origin, e.g. http://127.0.0.1:9000>
// Prints "PORT <n>" on stdout once listening.
const port = Number(process.argv[2] ?? 0);
const upstream = (process.argv[3] ?? "http://127.0.0.1:9000").replace(/\/+$/, "");

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 0,
  async fetch(request) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.delete("host");
    const response = await fetch(upstream + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer(),
      redirect: "manual",
      timeout: false,
    } as RequestInit);
    const out = new Headers(response.headers);
    out.delete("content-length");
    out.delete("content-encoding");
    out.delete("transfer-encoding");
    return new Response(response.body, { status: response.status, headers: out });
  },
});

console.log(`PORT ${server.port}`);

export {}; // a module: its top-level names are its own
