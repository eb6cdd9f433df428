import { gatewayError, kindOfUpstreamStatus, type GatewayError } from "../errors.ts";
import type { Codec } from "../dialects/codec.ts";
import { scrub } from "../gateway.ts";
import { checkOutbound } from "./outbound.ts";
import type { Timeouts } from "../../schemas/config.ts";

// One upstream call with its limits: the client's signal, a total deadline shared by every
// attempt, a time-to-first-byte limit, and an idle limit between stream chunks. Every limit
// aborts the same controller, so the upstream socket closes at once whichever fires.

type AbortCause = "client" | "timeout:connect" | "timeout:first_byte" | "timeout:idle" | "timeout:total";

/** How long the reachability check of a silent upstream may take. */
const PROBE_MS = 1000;

/** Whether a TCP connection to the URL's host and port opens within `ms`. */
export function reachable(url: string, ms: number): Promise<boolean> {
  const { hostname, port, protocol } = new URL(url);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      resolve(ok);
    };
    Bun.connect({
      hostname: hostname.replace(/^\[|\]$/g, ""),
      port: Number(port) || (protocol === "https:" ? 443 : 80),
      socket: {
        open(socket) {
          socket.end();
          done(true);
        },
        connectError: () => done(false),
        data() {},
      },
    }).catch(() => done(false));
  });
}

export class AttemptSignal {
  readonly controller = new AbortController();
  private cause: AbortCause | undefined;
  private timer: Timer | undefined;
  private readonly totalTimer: Timer;
  private readonly onClientAbort = () => this.abort("client");

  constructor(private readonly client: AbortSignal, deadlineAt: number, readonly limits: Timeouts) {
    if (client.aborted) this.abort("client");
    else client.addEventListener("abort", this.onClientAbort, { once: true });
    this.totalTimer = setTimeout(() => this.abort("timeout:total"), Math.max(0, deadlineAt - Date.now()));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the attempt was aborted, if it was. */
  get aborted(): AbortCause | undefined {
    return this.cause;
  }

  abort(cause: AbortCause): void {
    if (this.cause) return;
    this.cause = cause;
    this.controller.abort(new DOMException(cause, "AbortError"));
    this.dispose();
  }

  /** Arm the limit that applies to the next wait: the first byte, or the next chunk. */
  arm(kind: "first_byte" | "idle"): void {
    clearTimeout(this.timer);
    const ms = kind === "first_byte" ? this.limits.first_byte_ms : this.limits.idle_ms;
    this.timer = setTimeout(() => this.abort(`timeout:${kind}`), ms);
  }

  disarm(): void {
    clearTimeout(this.timer);
  }

  /** The attempt is over (done or failed): stop every timer and listener. */
  dispose(): void {
    clearTimeout(this.timer);
    clearTimeout(this.totalTimer);
    this.client.removeEventListener("abort", this.onClientAbort);
  }

  /** The error for an aborted attempt. */
  error(): GatewayError {
    switch (this.cause) {
      case "client":
        return gatewayError("cancelled", "the client closed the connection");
      case "timeout:connect":
        return gatewayError("upstream_timeout", `could not connect to upstream within ${this.limits.connect_ms} ms`, { code: "timeout:connect" });
      case "timeout:first_byte":
        return gatewayError("upstream_timeout", `no response from upstream within ${this.limits.first_byte_ms} ms`, { code: "timeout:first_byte" });
      case "timeout:idle":
        return gatewayError("upstream_timeout", `upstream stream idle for ${this.limits.idle_ms} ms`, { code: "timeout:idle" });
      case "timeout:total":
      case undefined:
        return gatewayError("upstream_timeout", `request exceeded its total deadline of ${this.limits.total_ms} ms`, { code: "timeout:total" });
    }
  }
}

export type UpstreamResult = { ok: true; response: globalThis.Response } | { ok: false; error: GatewayError; status: number };

/** How much of an upstream's error body is read. */
export const ERROR_BODY_MAX = 64 * 1024;

/** POST to the upstream and wait for its headers; a non-2xx answer becomes an error value. */
export async function fetchUpstream(
  url: string,
  init: { headers: Record<string, string>; body: string },
  signal: AttemptSignal,
  codec: Codec,
  secrets: readonly string[],
): Promise<UpstreamResult> {
  const outbound = await checkOutbound(url);
  if (outbound) return { ok: false, error: outbound, status: 0 };
  signal.arm("first_byte");
  // No answer by connect_ms: make sure the upstream can be reached at all, or give up on it now.
  let answered = false;
  const connectCheck = setTimeout(() => {
    void reachable(url, Math.min(PROBE_MS, signal.limits.connect_ms)).then((ok) => {
      if (!ok && !answered) signal.abort("timeout:connect");
    });
  }, signal.limits.connect_ms);
  let response: globalThis.Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: init.headers,
      body: init.body,
      signal: signal.signal,
      // Provider credentials must never follow a redirect to another host.
      redirect: "manual",
      // Bun's own idle timeout (5 min) must not cut a stream our limits allow.
      timeout: false,
    } as RequestInit);
  } catch (error) {
    answered = true;
    clearTimeout(connectCheck);
    signal.disarm();
    if (signal.aborted) return { ok: false, error: signal.error(), status: 0 };
    const reason = scrub((error as Error).message || String(error), secrets);
    // A refused connection (or a name that does not resolve) means nothing was sent: safe to retry.
    const code = (error as { code?: unknown }).code;
    const notSent = code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "ConnectionRefused";
    return { ok: false, error: gatewayError("upstream_unreachable", `upstream unreachable: ${reason}`, notSent ? { code: "connect" } : {}), status: 0 };
  }
  answered = true;
  clearTimeout(connectCheck);
  signal.disarm();
  if (response.status >= 200 && response.status < 300) return { ok: true, response };
  const body = await readCapped(response, ERROR_BODY_MAX).catch(() => "");
  return { ok: false, error: upstreamError(response.status, response.headers, body, codec.errorMessage, secrets), status: response.status };
}

/**
 * The error for an upstream's non-2xx answer, shared by every upstream call: its kind from the
 * status, the upstream's own message (read by `messageOf`, scrubbed of secrets) where it helps
 * the client, Retry-After kept, and no text at all for auth failures, whose bodies may echo the key.
 */
export function upstreamError(
  status: number, headers: Headers, body: string, messageOf: (parsed: unknown) => string | undefined, secrets: readonly string[],
): GatewayError {
  if (status >= 300 && status < 400) {
    return gatewayError("upstream_error", `upstream answered with a redirect (${status}), which is not followed`);
  }
  const kind = kindOfUpstreamStatus(status);
  const retryAfter = parseRetryAfter(headers.get("retry-after"));
  // Auth failures are the gateway's configuration, not the caller's: and their bodies may echo the key.
  if (kind === "upstream_auth") {
    return gatewayError(kind, `upstream rejected the gateway's credentials (HTTP ${status})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const said = messageOf(parsed);
  const message = scrub(said ? `upstream: ${said}` : `upstream returned HTTP ${status}`, secrets).slice(0, 2000);
  const passOn = kind === "invalid_request" || kind === "payload_too_large" || kind === "rate_limited";
  const tooLong = (kind === "invalid_request" || kind === "payload_too_large") && CONTEXT_LENGTH.test(said ?? "");
  return gatewayError(kind, message, {
    ...(passOn ? { status } : {}),
    ...(tooLong ? { code: "context_length_exceeded" } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  });
}

/**
 * How providers say a prompt did not fit: OpenAI "maximum context length" (code
 * context_length_exceeded), Anthropic "prompt is too long", Gemini "input token count … exceeds
 * the maximum number of tokens", vLLM/llama.cpp "context window"/"context size".
 */
const CONTEXT_LENGTH = /context[ _-]length|maximum context|context window|context size|prompt is too long|exceeds the maximum number of tokens|too many tokens/i;

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, Math.ceil((date - Date.now()) / 1000)) : undefined;
}

/** Read at most `max` bytes of a body as text, then stop reading. */
export async function readCapped(response: globalThis.Response, max: number): Promise<string> {
  if (!response.body) return "";
  const length = response.headers.get("content-length");
  if (length !== null && Number(length) <= max && !response.headers.has("content-encoding")) return response.text();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    text += decoder.decode(value, { stream: true });
    if (size >= max) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  return text + decoder.decode();
}
