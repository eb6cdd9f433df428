import type { Codec } from "../dialects/codec.ts";
import type { Gateway } from "../gateway.ts";
import { deadlineFor, forTarget, isPassthrough, runAttempt, type RequestContext, type Source } from "./attempt.ts";
import { isGatewayError, statusOf } from "../errors.ts";
import { continueConversation, responseIdFor, storeTurn } from "./conversation.ts";
import { admit, failEarly, overBudget, tryTargets, withFrame } from "./frame.ts";
import { compressorsFor, runRequestPlugins } from "./plugins.ts";
import { captureBodies } from "./capture.ts";
import { applyTerse, terseArm } from "./terse.ts";
import { logLine, respond } from "./respond.ts";
import { cachePlan, keeper, serveCached } from "./cache.ts";
import { quickEstimate } from "../tokens/count.ts";
import type { AttemptSignal } from "./upstream.ts";
import type { Target } from "../routing/resolve.ts";

// The life of one generation request: admit (decode, authenticate, route, `request.received`
// on record before any upstream is called), request plugins, attempts with fallback, and the
// answer, whose terminal event commits before the last byte reaches the client.

export interface GenerationOptions {
  /**
   * Called once the body is in: the server's idle timeout guards reading it, and from then on
   * the upstream limits (first byte, idle, total) govern how long the connection may wait.
   */
  bodyRead?: () => void;
  /** Fields a route adds to the parsed body before decoding, from the URL (Gemini's model and stream). */
  fromUrl?: Record<string, unknown>;
}

export function handleGeneration(
  gw: Gateway, codec: Codec, http: globalThis.Request, endpoint: string, options: GenerationOptions = {},
): Promise<globalThis.Response> {
  return withFrame(gw, codec, codec.id, endpoint, async (frame) => {
    const admitted = await admit(frame, http, {
      ...options,
      decode: (body) => codec.decodeRequest(body),
      facts: (ir) => ({ ir, inputTokens: quickEstimate(ir), ...(ir.maxTokens !== undefined ? { maxTokens: ir.maxTokens } : {}) }),
      mayServeCached: true,
    });
    if (admitted instanceof Response) return admitted;
    const { raw, model: publicModel, targets } = admitted;
    let { decoded } = admitted;

    // The Responses API names its answers and may continue a stored conversation.
    let state: Pick<RequestContext, "responseId" | "answered"> = {};
    if (codec.id === "openai-responses") {
      const continued = continueConversation(gw, decoded);
      if (isGatewayError(continued)) return failEarly(frame, continued);
      const id = responseIdFor(frame.id);
      const input = decoded.messages;
      state = {
        responseId: id,
        ...(decoded.extra.store !== false
          ? { answered: (output) => storeTurn(gw, { request: frame.id, id, ...(continued.previous ? { previous: continued.previous } : {}), input, output }) }
          : {}),
      };
      decoded = continued.request;
    }

    // A request holding content the IR cannot carry (an Anthropic document, a Gemini executableCode
    // part …) must go as the client's own bytes: nothing that would rewrite it runs.
    const rewritable = decoded.untranslated === undefined;
    const plugged = await runRequestPlugins(gw, decoded, { request: frame.id, model: publicModel },
      rewritable ? compressorsFor(gw, admitted.route, http.headers.get("x-sluice-compress")) : []);
    if ("error" in plugged) return failEarly(frame, plugged.error);
    // Terse mode: the arm is chosen from the request as the client sent it; the instruction goes last.
    const arm = rewritable ? terseArm(admitted.route, http.headers.get("x-sluice-terse"), decoded) : undefined;
    const ir = applyTerse(gw, frame.id, arm, plugged.request);
    // The response cache is keyed by who asks, the request as the client wrote it and as it would go upstream.
    const cache = cachePlan(gw, admitted.route, http.headers.get("x-sluice-cache"), admitted.scope, publicModel, ir, { dialect: codec.id, raw });
    const ctx: RequestContext = {
      gw, id: frame.id, codec, ir, raw, modified: plugged.modified || ir !== plugged.request || decoded !== admitted.decoded, signal: http.signal,
      deadlineAt: deadlineFor(gw.config, admitted.route), ...(admitted.route ? { route: admitted.route } : {}), ...state,
      tokensSaved: plugged.tokensSaved,
      settle: frame.settle,
      ...(frame.budget ? { overBudget: (chars: number) => overBudget(frame, chars) } : {}),
      ...(cache && !cache.hit ? { keep: keeper(gw, frame.id, cache, codec.id) } : {}),
    };
    if (cache?.hit) return serveCached(frame, ctx, { ...cache, hit: cache.hit }, publicModel);
    if (cache) frame.headers["x-sluice-cache"] = "miss";
    if (admitted.unroutable) {
      // Every target is cooling down, and the cache has no answer: refused at once.
      const error = admitted.unroutable;
      logLine(gw, { request: frame.id, model: publicModel, status: statusOf(error), reason: error.kind, ms: frame.elapsed() });
      return failEarly(frame, error);
    }
    // Each target's request is prepared once, for the attempt.started record and the attempt itself.
    const prepared = new Map<string, ReturnType<typeof forTarget>>();
    const prepare = (target: Target) => {
      let made = prepared.get(target.id);
      if (!made) prepared.set(target.id, (made = forTarget(ctx, target)));
      return made;
    };
    const response = await tryTargets<{ source: Source; signal: AttemptSignal }>(frame, {
      targets,
      deadlineAt: ctx.deadlineAt,
      publicModel,
      signal: http.signal,
      passthrough: (executor, target) => isPassthrough(prepare(target).ctx, executor),
      async attempt(target, executor) {
        const outcome = await runAttempt(ctx, target, executor, prepare(target));
        return outcome.ok
          ? { ok: true, value: { source: outcome.source, signal: outcome.signal }, status: outcome.status, adjustments: outcome.adjustments }
          : outcome;
      },
      answer: (value, target, attempts) => {
        // A stream's end settles the caller's admission, after this handler has returned.
        if (ctx.ir.stream) frame.streaming = true;
        return respond(ctx, value.source, value.signal, { target, attempts }, frame.headers, frame.elapsed, publicModel);
      },
    });
    // A refusal or failure is captured too, where the route asks for bodies (answers capture themselves).
    if (ctx.route?.capture && response.status >= 400) captureBodies(ctx, await response.clone().text());
    return response;
  });
}
