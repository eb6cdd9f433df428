import { RequestCancelled, RequestCompleted, RequestFailed } from "../../events/catalog/request.ts";
import type { Codec } from "../dialects/codec.ts";
import { gatewayError, isGatewayError, statusOf, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import type { Part, StreamEvent, Usage } from "../ir.ts";
import type { Target } from "../routing/resolve.ts";
import type { RequestContext, Source } from "./attempt.ts";
import { ResponseCollector, responseEvents } from "./ir-stream.ts";
import { sampleEstimate } from "./estimate.ts";
import { rememberSignatures } from "./signatures.ts";
import { costOf, modelInfo } from "../models/catalog.ts";
import { CaptureBuffer, captureBodies } from "./capture.ts";
import { irSource, passthroughSource, pump, type StreamOutcome } from "./stream.ts";
import type { AttemptSignal } from "./upstream.ts";

// The answer to the client once an attempt succeeded: a whole body, or a stream. The terminal
// event commits before the last byte is sent (the durability rule, part two).

export type Headers = Record<string, string>;

interface Served {
  target: Target;
  attempts: number;
}

function usageData(usage: Usage | undefined, target: Target) {
  if (!usage) return {};
  const cost = costOf(target.provider, target.model, usage);
  return {
    ...(cost !== undefined ? { cost_usd: cost } : {}),
    usage: {
      input_tokens: usage.inputTokens,
      output_tokens: usage.outputTokens,
      ...(usage.cachedInputTokens !== undefined ? { cached_input_tokens: usage.cachedInputTokens } : {}),
      ...(usage.cacheWriteTokens !== undefined ? { cache_write_tokens: usage.cacheWriteTokens } : {}),
      ...(usage.reasoningTokens !== undefined ? { reasoning_tokens: usage.reasoningTokens } : {}),
    },
  };
}

/**
 * What the compressors saved on this request, priced at the serving target's input price: the
 * saved tokens were in the newest turn, never in the provider's prompt cache, so the plain input
 * price is the one they would have cost.
 */
function compressionSaved(ctx: RequestContext, target: Target) {
  const input = modelInfo(target.provider, target.model).price?.input;
  if (!ctx.tokensSaved || ctx.tokensSaved <= 0 || input === undefined) return {};
  return { compression_saved_usd: (ctx.tokensSaved * input) / 1e6 };
}

export async function respond(
  ctx: RequestContext, source: Source, signal: AttemptSignal, served: Served,
  headers: Headers, elapsed: () => number, publicModel: string,
): Promise<globalThis.Response> {
  const { gw, codec, id, ir } = ctx;
  const { target, attempts } = served;
  const base = { request: id, target: target.id, provider: target.provider.id, model: target.model, attempts };
  // An answer Sluice wrote itself (not bytes passed through) is kept where the client needs it again.
  const settled = (content: Part[]) => {
    ctx.answered?.(content);
    rememberSignatures(gw, id, target.provider.id, content);
  };

  if (!ir.stream && (source.kind === "raw-json" || source.kind === "ir")) {
    signal.dispose();
    // Bytes passed through keep the upstream's id; an answer Sluice writes may carry its own.
    const response = source.kind === "ir" && ctx.responseId ? { ...source.response, id: ctx.responseId } : source.response;
    if (source.kind === "ir") settled(response.content);
    const text = source.kind === "raw-json" ? source.text : JSON.stringify(codec.encodeResponse(response, publicModel));
    ctx.keep?.(source.kind === "raw-json" ? { response, raw: text } : { response }, target);
    const ms = elapsed();
    // The durability rule, part two: the terminal event commits before the answer is sent.
    await gw.log.commit(RequestCompleted, {
      ...base, status: 200, stream: false, ttfb_ms: ms, total_ms: ms, finish_reason: response.finishReason, ...usageData(response.usage, target),
      ...compressionSaved(ctx, target),
    }, { alone: gw.inFlight === 1 }).catch(() => {});
    ctx.settle?.(response.usage?.outputTokens);
    captureBodies(ctx, text);
    logLine(gw, { request: id, model: publicModel, target: target.id, status: 200, attempts, ms, tokens: response.usage });
    sampleEstimate(ctx, target, response.usage);
    return new Response(text, { status: 200, headers: { ...headers, "content-type": "application/json" } });
  }

  if (!ir.stream) {
    // The executor streamed although the client did not ask to: gather it into one answer.
    const events = source.kind === "ir-stream" ? source.events : undefined;
    const collector = new ResponseCollector();
    try {
      if (events) for await (const event of events) collector.add(event);
    } catch (error) {
      collector.add({ type: "error", error: isGatewayError(error) ? error : gatewayError("upstream_error", "upstream stream broke off") });
    }
    signal.dispose();
    const response = collector.response();
    if (isGatewayError(response)) {
      await gw.log.commit(RequestFailed, { ...base, status: statusOf(response), reason: response.kind, message: response.message, total_ms: elapsed() }).catch(() => {});
      logLine(gw, { request: id, model: publicModel, target: target.id, status: statusOf(response), reason: response.kind, attempts, ms: elapsed() });
      return errorResponse(codec, response, headers);
    }
    return respond(ctx, { kind: "ir", response }, signal, served, headers, elapsed, publicModel);
  }

  // Streaming.
  let ttfb = 0;
  const events = source.kind === "ir-stream" ? source.events
    : source.kind === "raw-sse" ? undefined
    : (async function* () { yield* responseEvents(source.response); })();
  const stream = source.kind === "raw-sse"
    ? passthroughSource(source.body, source.codec, signal, source.injectedUsage, ctx.overBudget !== undefined || ctx.keep !== undefined)
    : irSource(ctx.responseId ? renamed(events!, ctx.responseId) : events!, codec, { model: publicModel, includeUsage: ir.streamUsage === true }, signal);
  const terminal = (outcome: StreamOutcome): Promise<void> => {
    const total = elapsed();
    const usage = usageData(outcome.tally.usage, target);
    logLine(gw, { request: id, model: publicModel, target: target.id, status: outcome.kind === "completed" ? 200 : outcome.kind === "cancelled" ? 499 : statusOf(outcome.error), attempts, ms: total, stream: true, tokens: outcome.tally.usage });
    switch (outcome.kind) {
      case "completed": {
        const answer = source.kind === "raw-sse" ? undefined : outcome.tally.response();
        // A passthrough stream is decoded whole when its answer is to be kept (see passthroughSource).
        const whole = ctx.keep ? answer ?? outcome.tally.response() : undefined;
        if (whole && !isGatewayError(whole)) ctx.keep!({ response: whole }, target);
        if (answer && !isGatewayError(answer)) settled(answer.content);
        sampleEstimate(ctx, target, outcome.tally.usage);
        return gw.log.commit(RequestCompleted, {
          ...base, status: 200, stream: true, ttfb_ms: ttfb || total, total_ms: total,
          ...(outcome.tally.finishReason ? { finish_reason: outcome.tally.finishReason } : {}), ...usage,
          ...compressionSaved(ctx, target),
        });
      }
      case "failed":
        return gw.log.commit(RequestFailed, {
          ...base, status: statusOf(outcome.error), reason: outcome.error.kind, message: outcome.error.message, total_ms: total, ...usage,
        });
      case "cancelled":
        return gw.log.commit(RequestCancelled, { ...base, status: 499, total_ms: total, streamed_chars: outcome.sent, ...usage });
    }
  };
  const captured = ctx.route?.capture ? new CaptureBuffer(ctx.route.capture.max_bytes) : undefined;
  const body = pump(stream, codec, {
    firstByte: () => {
      ttfb = elapsed();
    },
    ...(captured ? { sent: (text: string) => captured.add(text) } : {}),
    // The terminal event on record, then the caller key's admission back (with the output it used).
    terminal: async (outcome) => {
      try {
        await terminal(outcome);
      } finally {
        ctx.settle?.(outcome.tally.usage?.outputTokens);
        // After the stream's last bytes (its end or its error event) have gone out too.
        if (captured) setTimeout(() => captureBodies(ctx, captured.text, captured.size), 0);
      }
    },
    ...(ctx.overBudget ? { check: (tally: ResponseCollector) => ctx.overBudget!(tally.outputChars) } : {}),
  });
  return new Response(body, {
    status: 200,
    headers: { ...headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

/** The stream with its start event carrying the given id. */
async function* renamed(events: AsyncIterable<StreamEvent>, id: string): AsyncGenerator<StreamEvent> {
  for await (const event of events) yield event.type === "start" ? { ...event, id } : event;
}

export function errorResponse(codec: Codec, error: GatewayError, headers: Headers = {}): globalThis.Response {
  const extra: Headers = error.retryAfter !== undefined ? { "retry-after": String(Math.ceil(error.retryAfter)) } : {};
  return new Response(JSON.stringify(codec.encodeError(error)), {
    status: statusOf(error),
    headers: { ...headers, ...extra, "content-type": "application/json" },
  });
}

export function logLine(gw: Gateway, fields: Record<string, unknown>): void {
  gw.logger.info(fields, "request");
}

