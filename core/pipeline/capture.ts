import { BodyCaptured } from "../../events/catalog/capture.ts";
import { redact } from "../gateway.ts";
import type { RequestContext } from "./attempt.ts";

// Body capture for routes that ask for it (route `capture`): the request as received and the
// answer as sent, redacted and capped, as one `body.captured` event after the answer is on record.

export { redact } from "../gateway.ts";

/** Collects a streamed answer's text up to the cap, for capture. */
export class CaptureBuffer {
  text = "";
  size = 0;
  constructor(private readonly max: number) {}
  add(piece: string): void {
    this.size += piece.length;
    if (this.text.length < this.max) this.text += piece.slice(0, this.max - this.text.length);
  }
}

export function captureBodies(ctx: RequestContext, response: string, responseSize = response.length): void {
  const max = ctx.route?.capture?.max_bytes;
  if (max === undefined) return;
  const request = ctx.raw;
  const cut = request.length > max || responseSize > max;
  void ctx.gw.log.append(BodyCaptured, {
    request: ctx.id,
    request_body: redact(request.slice(0, max), ctx.gw.secrets),
    response_body: redact(response.slice(0, max), ctx.gw.secrets),
    ...(cut ? { truncated: { request: request.length, response: responseSize } } : {}),
  }).catch(() => {});
}
