import { gatewayError, type GatewayError } from "../errors.ts";

/** The body as text, refusing one larger than `max` bytes before reading it all. */
export async function readBody(http: globalThis.Request, max: number): Promise<string | GatewayError> {
  const tooLarge = () => gatewayError("payload_too_large", `request body is larger than ${max} bytes`, { code: "request_too_large" });
  const length = http.headers.get("content-length");
  const declared = length === null ? NaN : Number(length);
  if (declared > max) return tooLarge();
  if (!http.body) return "";
  if (declared >= 0) {
    // The size is known and within the cap (Bun holds the body to it): the fast path.
    let bytes: ArrayBuffer;
    try {
      bytes = await http.arrayBuffer();
    } catch {
      return gatewayError("invalid_request", "could not read the request body");
    }
    return utf8(bytes);
  }
  const reader = http.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel().catch(() => {});
        return tooLarge();
      }
      chunks.push(value);
    }
  } catch {
    return gatewayError("invalid_request", "could not read the request body");
  }
  return utf8(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
}

/**
 * The body's text, or a 400 when it is not UTF-8. JSON between systems must be UTF-8 (RFC 8259
 * §8.1); a lossy decode (as Response.text() does) would turn invalid bytes into U+FFFD and send
 * a body the client never wrote upstream (found by the T04 fuzzer, test/e2e/fuzz.test.ts).
 * A leading BOM is dropped, as before.
 */
function utf8(bytes: ArrayBuffer | Uint8Array): string | GatewayError {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return gatewayError("invalid_request", "request body is not valid UTF-8");
  }
}

/** JSON bodies nest at most this deep: decoders recurse, and nothing real nests further. */
export const MAX_DEPTH = 128;

/** Whether `value` nests objects and arrays deeper than `max` (iterative: safe on any input). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: value, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === "object" && child !== null) stack.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

/** The body read (within `max` bytes), parsed as JSON and checked for depth, or the 4xx to answer. */
export async function readJson(http: globalThis.Request, max: number): Promise<{ raw: string; body: unknown } | GatewayError> {
  const raw = await readBody(http, max);
  if (typeof raw !== "string") return raw;
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (error) {
    return gatewayError("invalid_request", `request body is not valid JSON: ${(error as Error).message}`);
  }
  if (nestsDeeperThan(body, MAX_DEPTH)) return gatewayError("invalid_request", `request body nests deeper than ${MAX_DEPTH} levels`);
  return { raw, body };
}
