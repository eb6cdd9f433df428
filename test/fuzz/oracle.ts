import type { Case, Endpoint } from "./arbitraries.ts";
import { errorShape, streamShape, successShape } from "./dialects.ts";
import type { Outcome } from "./http.ts";

// What the gateway must do with any body (RELIABILITY T04): answer within the time bound, never
// a 5xx, JSON (or, for a valid streaming request, SSE) in the endpoint's own dialect, a 4xx for a
// body that is certainly invalid, a 2xx for the unmutated valid body, and no upstream request for
// a body it refused.

export function judge(endpoint: Endpoint, c: Case, outcome: Outcome, upstreamCalls: number): string[] {
  if ("timeout" in outcome) return [`no reply within ${outcome.timeout} ms`];
  if ("failed" in outcome) return [`connection failed: ${outcome.failed}`];
  const { reply } = outcome;
  const problems: string[] = [];
  const shown = `${reply.status} ${reply.contentType} ${reply.text.slice(0, 300)}`;
  if (reply.status >= 500) return [`server error ${shown}`];
  if (reply.status < 200 || (reply.status >= 300 && reply.status < 400)) return [`unexpected status ${shown}`];

  if (reply.status < 300) {
    if (c.expect === "invalid") problems.push(`accepted a body that is not valid: ${shown}`);
    if (reply.contentType.startsWith("text/event-stream")) {
      const wrong = streamShape(endpoint.kind, reply.text);
      if (wrong) problems.push(wrong);
    } else {
      const body = parseJson(reply.text);
      if (!reply.contentType.startsWith("application/json")) problems.push(`2xx content-type is ${reply.contentType}`);
      if (body === undefined) problems.push(`2xx reply is not JSON: ${shown}`);
      else {
        const wrong = successShape(endpoint.kind, body);
        if (wrong) problems.push(wrong);
      }
    }
    return problems;
  }

  // 4xx
  if (c.expect === "valid") problems.push(`refused the valid body: ${shown}`);
  if (upstreamCalls > 0) problems.push(`refused with ${reply.status}, but ${upstreamCalls} request(s) reached an upstream`);
  if (!reply.contentType.startsWith("application/json")) problems.push(`4xx content-type is ${JSON.stringify(reply.contentType)}: ${shown}`);
  const body = parseJson(reply.text);
  if (body === undefined) problems.push(`4xx reply is not JSON: ${shown}`);
  else {
    const wrong = errorShape(endpoint.dialect, reply.status, body);
    if (wrong) problems.push(`${wrong}: ${shown}`);
  }
  return problems;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Own keys of the built-in prototypes a pollution would add to. */
export function prototypeKeys(): string[] {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype]
    .flatMap((proto, i) => Reflect.ownKeys(proto).map((k) => `${i}:${String(k)}`));
}
