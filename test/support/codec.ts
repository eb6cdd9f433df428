import { expect } from "vitest";
import type { StreamDecoder, StreamEncoder, StreamEncoderOptions } from "../../core/dialects/codec.ts";
import { isGatewayError, type GatewayError } from "../../core/errors.ts";
import type { StreamEvent } from "../../core/ir.ts";
import { parseSse } from "./sse.ts";

// Helpers every codec's tests share.

/** The value a decoder returned, or a failed test naming the error it returned instead. */
export function ok<T>(result: T | GatewayError): T {
  if (isGatewayError(result)) throw new Error(`expected a value, got ${result.kind}: ${result.message} (${result.param ?? "-"})`);
  return result;
}

/** The invalid_request error a decoder returned, or a failed test. */
export function invalid(result: unknown): GatewayError {
  if (!isGatewayError(result)) throw new Error("expected an invalid_request error");
  expect(result.kind).toBe("invalid_request");
  return result;
}

/** Everything a decoder makes of an SSE text, end of stream included. */
export function decodeAll(decoder: StreamDecoder, text: string): StreamEvent[] {
  return [...parseSse(text).flatMap((event) => decoder.push(event)), ...decoder.end()];
}

/** The SSE text an encoder makes of IR events, end of stream included. */
export function encodeAll(make: (options: StreamEncoderOptions) => StreamEncoder, events: StreamEvent[], options: StreamEncoderOptions): string {
  const encoder = make(options);
  return events.map((event) => encoder.encode(event)).join("") + encoder.end();
}

/** The full arguments of each tool call, by IR index. */
export function assembled(events: StreamEvent[]): Record<number, string> {
  const out: Record<number, string> = {};
  for (const event of events) {
    if (event.type === "tool-call-start") out[event.index] = "";
    if (event.type === "tool-call-delta") out[event.index] += event.argumentsDelta;
  }
  return out;
}
