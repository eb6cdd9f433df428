import type { GatewayError } from "../errors.ts";
import type { Request, Response, StreamEvent } from "../ir.ts";

/** Dialect ids: the wire formats Sluice speaks, to clients and to upstreams. */
export type DialectId = "openai-chat" | "openai-responses" | "anthropic" | "gemini";

/** One server-sent event as parsed off the wire (field names as in the SSE spec). */
export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

/** Turns one upstream stream (SSE events) into IR stream events; stateful, one per stream. */
export interface StreamDecoder {
  push(event: SseEvent): StreamEvent[];
  /** The upstream closed; returns what is left (an error event if the stream was cut short). */
  end(): StreamEvent[];
}

/** Turns IR stream events into the client's SSE bytes; stateful, one per stream. */
export interface StreamEncoder {
  encode(event: StreamEvent): string;
  /** The last bytes of a stream that ended normally (e.g. `data: [DONE]`). */
  end(): string;
}

export interface StreamEncoderOptions {
  /** The model name the client should see. */
  model: string;
  /** Emit the usage chunk (OpenAI: only when the client asked for `include_usage`). */
  includeUsage: boolean;
}

/** The same-dialect request body: the client's bytes with only what must change changed. */
export interface PassthroughBody {
  body: string;
  /** Usage was requested from the upstream for a client that did not ask: drop usage-only events. */
  injectedUsage: boolean;
}

/**
 * A dialect codec: wire ⇄ IR for requests, responses, streams and errors.
 * `decode*` read the dialect's wire format; `encode*` write it.
 */
export interface Codec {
  id: DialectId;
  /** Client request body → IR, or an invalid_request error naming the field. */
  decodeRequest(body: unknown): Request | GatewayError;
  /**
   * IR → request body for an upstream that speaks this dialect. Where the dialect cannot take the
   * request as asked and sends something close instead, it says what in one `adjust` note.
   */
  encodeRequest(request: Request, adjust?: (note: string) => void): Record<string, unknown>;
  /** Upstream response body → IR, or upstream_invalid when it is not this dialect's shape. */
  decodeResponse(body: unknown): Response | GatewayError;
  /** IR → response body for a client of this dialect. */
  encodeResponse(response: Response, model: string): Record<string, unknown>;
  /** The client's raw body for an upstream of the same dialect: model renamed, usage requested. */
  passthroughRequest(raw: string, model: string, options: { stream: boolean; clientAskedUsage: boolean; wantUsage: boolean }): PassthroughBody;
  streamDecoder(): StreamDecoder;
  /**
   * Matches where an SSE event's data may carry a finish, usage or an error (not global: test
   * an event with it, or search a run of events for the first such place). The same-dialect
   * path forwards every event's bytes but decodes only these (the tally it needs), which keeps
   * a long stream cheap. Leave it out to decode every event.
   */
  streamSignificant?: RegExp;
  /**
   * Whether an SSE event is the dialect's explicit end of a stream (`data: [DONE]`, Anthropic's
   * message_stop, the Responses API's response.completed/incomplete/failed). A client takes the
   * answer as whole there, so the request's terminal event must be on record before it is sent;
   * and nothing after it is read. Absent (Gemini): the stream ends when the body does.
   */
  streamEnds?(event: SseEvent): boolean;
  streamEncoder(options: StreamEncoderOptions): StreamEncoder;
  /** Gateway error → this dialect's error body. */
  encodeError(error: GatewayError): Record<string, unknown>;
  /** Gateway error → this dialect's in-stream terminal error (SSE text). */
  encodeStreamError(error: GatewayError): string;
  /** The message an upstream of this dialect put in its error body, if any. */
  errorMessage(body: unknown): string | undefined;
}
