import { connect } from "node:net";

// Sending fuzz bodies over real HTTP: fetch for well-framed requests (with a Content-Length, or
// chunked from a stream), and a raw socket for framing fetch will not produce (a connection that
// ends before the declared length, conflicting lengths, bad chunks).

export interface Reply {
  status: number;
  contentType: string;
  requestId: string | null;
  /** x-sluice-model: the model the upstream that answered was asked for. */
  model: string | null;
  text: string;
  ms: number;
}

export type Outcome = { reply: Reply } | { timeout: number } | { failed: string };

/** POST `bytes` to `url`; `chunks` > 1 sends it chunked in that many pieces (no Content-Length). */
export async function post(url: string, bytes: Uint8Array, contentType: string | null, options: { timeoutMs: number; chunks?: number }): Promise<Outcome> {
  const started = performance.now();
  const headers: Record<string, string> = {};
  if (contentType !== null) headers["content-type"] = contentType;
  let body: Uint8Array | ReadableStream<Uint8Array> = bytes;
  const pieces = options.chunks ?? 1;
  if (pieces > 1) {
    const size = Math.max(1, Math.ceil(bytes.length / pieces));
    let offset = 0;
    body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(offset, offset + size));
        offset += size;
      },
    });
  }
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await fetch(url, { method: "POST", body, headers, signal, ...(pieces > 1 ? { duplex: "half" } : {}) } as RequestInit);
    const text = await response.text();
    return {
      reply: {
        status: response.status, contentType: response.headers.get("content-type") ?? "", requestId: response.headers.get("x-sluice-request-id"),
        model: response.headers.get("x-sluice-model"), text, ms: performance.now() - started,
      },
    };
  } catch (error) {
    if (signal.aborted) return { timeout: options.timeoutMs };
    return { failed: (error as Error).message };
  }
}

export interface RawReply {
  /** null: the server closed the connection without answering. */
  status: number | null;
  headers: Record<string, string>;
  body: string;
  timedOut: boolean;
}

/**
 * Write `head` and `body` on a fresh connection, then half-close it when `end` (the client sends
 * nothing more), and read until the server closes or `timeoutMs` passes. Only the first response
 * is parsed.
 */
export function rawExchange(port: number, head: string, body: Uint8Array, options: { end: boolean; timeoutMs: number }): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(Buffer.concat(chunks)), timedOut });
    };
    const timer = setTimeout(() => finish(true), options.timeoutMs);
    socket.on("connect", () => {
      socket.write(head);
      if (body.length > 0) socket.write(body);
      if (options.end) socket.end();
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // One whole response is enough: stop once its body is in.
      const parsed = parse(Buffer.concat(chunks));
      if (parsed.status !== null && parsed.complete) finish(false);
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}

function parse(buffer: Buffer): { status: number | null; headers: Record<string, string>; body: string; complete: boolean } {
  const text = buffer.toString("latin1");
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) return { status: null, headers: {}, body: "", complete: false };
  const [statusLine, ...lines] = text.slice(0, split).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = buffer.subarray(Buffer.byteLength(text.slice(0, split + 4), "latin1"));
  let body = rest;
  let complete = false;
  const length = headers["content-length"];
  if (length !== undefined) {
    complete = rest.length >= Number(length);
    body = rest.subarray(0, Number(length));
  } else if (headers["transfer-encoding"]?.includes("chunked")) {
    const out: Buffer[] = [];
    let i = 0;
    for (;;) {
      const eol = rest.indexOf("\r\n", i);
      if (eol < 0) break;
      const size = parseInt(rest.subarray(i, eol).toString("latin1"), 16);
      if (Number.isNaN(size)) break;
      if (size === 0) {
        complete = true;
        break;
      }
      if (rest.length < eol + 2 + size) break;
      out.push(rest.subarray(eol + 2, eol + 2 + size));
      i = eol + 2 + size + 2;
    }
    body = Buffer.concat(out);
  }
  return { status: Number.isNaN(status) ? null : status, headers, body: body.toString("utf8"), complete };
}
