import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// Request and response bodies, for routes that opt in (`capture` in the route's config; off by
// default): for debugging what went over the wire. Secrets are redacted before the event is
// written (provider and admin keys the gateway knows, and anything shaped like an API key), and
// each body is cut at the route's byte cap.

export const BodyCaptured = defineEvent("body.captured", Type.Object({
  request: Type.String(),
  /** The client's request body as received. */
  request_body: Type.String(),
  /** The answer as sent to the client (JSON, or the SSE text of a stream). */
  response_body: Type.String(),
  /** Bodies longer than the cap were cut: their full sizes, in characters. */
  truncated: Type.Optional(Type.Object({ request: Type.Integer(), response: Type.Integer() })),
}));
