import type { EventData } from "../../events/define.ts";
import type { RouteDecided } from "../../events/catalog/routing.ts";
import { availability, type HealthState } from "../../events/projections/health.ts";
import type { Config, StrategyName } from "../../schemas/config.ts";
import { gatewayError, type GatewayError } from "../errors.ts";
import type { Request } from "../ir.ts";
import { modelInfo } from "../models/catalog.ts";
import { scoreComplexity, type Tier } from "./complexity.ts";
import { resolve, routeTargets, type Resolution, type Target } from "./resolve.ts";

// Routing as a decider: decide(request, state) → the targets to try, in order, and the record of
// why (route.decided). Pure over its inputs: the config, the health and routing projections, the
// time and the request's own id (which seeds the random strategies), so that `sluice replay`
// can run it again over the recorded state, under the same config or another.

export type Decision = EventData<typeof RouteDecided>;

export interface RouteInput {
  /** The request id: seeds the random and weighted strategies, so a replay draws the same. */
  id: string;
  model: string;
  /** Sluice's quick estimate of the prompt's tokens. */
  inputTokens: number;
  maxTokens?: number;
  /** The request, for the complexity tier and the affinity digest (absent on replay: `recorded` stands in). */
  ir?: Request;
  recorded?: { tier?: string; score?: number; affinity?: string };
  /**
   * How many decisions the route made before this one (the round-robin position); asked once per
   * decision of a route, so a live caller may count it as it answers.
   */
  position(route: string): number;
}

export interface RouteState {
  health: HealthState;
  /** Affinity digest → the target that last answered it (the routing projection's `sticky`). */
  sticky: Readonly<Record<string, string>>;
  now: number;
}

export type Decided =
  | { ok: true; resolution: Resolution; targets: Target[]; decision: Omit<Decision, "request"> }
  | { ok: false; error: GatewayError; decision?: Omit<Decision, "request">; resolution?: Resolution };

const TIER_NAMES: readonly Tier[] = ["simple", "medium", "complex", "reasoning"];

/** Where a conversation's prompt cache lives: its system prompt and first user turn. */
export function affinityDigest(ir: Request): string {
  const first = ir.messages.find((m) => m.role === "user");
  let prefix = ir.system.map((p) => p.text).join("\n");
  for (const part of first?.content ?? []) if (part.type === "text") prefix += `\n${part.text}`;
  return Bun.hash(prefix).toString(16);
}

export function decide(config: Config, input: RouteInput, state: RouteState): Decided {
  const resolution = resolve(config, input.model);
  if (!resolution) {
    const hint = config.providers.length === 0
      ? "no providers are configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, or write a sluice.yaml"
      : "GET /v1/models lists the models";
    return { ok: false, error: gatewayError("model_not_found", `model "${input.model.slice(0, 200)}" is not served here; ${hint}`, { code: "model_not_found", param: "model" }) };
  }
  const route = resolution.route;
  const strategy: StrategyName = route?.strategy ?? "priority";
  const decision: Omit<Decision, "request"> = {
    ...(route ? { route: route.name } : {}), ...(resolution.alias ? { alias: resolution.alias } : {}),
    strategy, input_tokens: input.inputTokens, ...(input.maxTokens !== undefined ? { max_tokens: input.maxTokens } : {}), order: [], skipped: [],
  };

  let candidates = resolution.targets;
  if (route?.tiers) {
    const scored = input.ir ? scoreComplexity(input.ir) : undefined;
    const tier = scored?.tier ?? input.recorded?.tier;
    if (tier !== undefined) {
      decision.tier = tier;
      const score = scored?.score ?? input.recorded?.score;
      if (score !== undefined) decision.score = score;
      const list = (TIER_NAMES as readonly string[]).includes(tier) ? route.tiers[tier as keyof typeof route.tiers] : undefined;
      if (list) candidates = routeTargets(config, list);
    }
  }

  const available: Target[] = [];
  const probes: string[] = [];
  for (const target of candidates) {
    const context = modelInfo(target.provider, target.model).context;
    if (context !== undefined && input.inputTokens > context) {
      decision.skipped.push({ target: target.id, reason: "context", detail: `~${input.inputTokens} tokens > ${context} window` });
      continue;
    }
    const health = availability(state.health, target.id, target.provider.id, state.now);
    if (!health.ok) {
      decision.skipped.push({ target: target.id, reason: health.reason, until: health.until });
      continue;
    }
    if (health.probe) probes.push(target.id);
    available.push(target);
  }

  const position = route ? input.position(route.name) : 0;
  let ordered = order(strategy, available, input, position, state.health);
  if (route?.affinity) {
    const digest = input.ir ? affinityDigest(input.ir) : input.recorded?.affinity;
    if (digest !== undefined) {
      decision.affinity = digest;
      const holder = state.sticky[digest];
      const index = ordered.findIndex((t) => t.id === holder);
      if (index >= 0) {
        decision.sticky = holder!;
        ordered = [ordered[index]!, ...ordered.slice(0, index), ...ordered.slice(index + 1)];
      }
    }
  }
  decision.order = ordered.map((t) => t.id);
  if (probes.length > 0) decision.probes = probes;
  if (ordered.length > 0) return { ok: true, resolution, targets: ordered, decision };
  return { ok: false, error: nothingLeft(input, decision, state.now), decision, resolution };
}

/** The error for a request every target was skipped for: too long for all, or all cooling down. */
function nothingLeft(input: RouteInput, decision: Omit<Decision, "request">, now: number): GatewayError {
  const cooling = decision.skipped.filter((s) => s.until !== undefined);
  if (cooling.length === 0) {
    const windows = decision.skipped.map((s) => `${s.target}: ${s.detail}`).join("; ");
    return gatewayError("invalid_request", `the prompt is longer than the context window of every target for "${input.model.slice(0, 200)}" (${windows})`, { code: "context_length_exceeded" });
  }
  const soonest = Math.min(...cooling.map((s) => s.until!));
  const retryAfter = Math.max(1, Math.ceil((soonest - now) / 1000));
  const list = cooling.map((s) => `${s.target} (${s.reason})`).join(", ");
  const rateLimited = cooling.some((s) => s.reason === "cooldown");
  return gatewayError(rateLimited ? "rate_limited" : "unavailable", `every target for "${input.model.slice(0, 200)}" is cooling down: ${list}; retry in ${retryAfter} s`, { retryAfter });
}

/** A small seeded generator (mulberry32): the same request id draws the same numbers. */
function seeded(id: string): () => number {
  let a = Number(Bun.hash.wyhash(id) & 0xffffffffn);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draw targets one by one with probability proportional to weight (all equal: a shuffle). */
function weightedShuffle(targets: Target[], random: () => number, weightOf: (t: Target) => number): Target[] {
  const left = [...targets];
  const out: Target[] = [];
  while (left.length > 0) {
    const total = left.reduce((n, t) => n + weightOf(t), 0);
    let index = 0;
    if (total > 0) {
      let r = random() * total;
      index = left.findIndex((t) => (r -= weightOf(t)) < 0);
      if (index < 0) index = left.length - 1;
    }
    out.push(left.splice(index, 1)[0]!);
  }
  return out;
}

/** What an answer from `target` is expected to cost, USD (undefined when its price is unknown). */
function expectedCost(target: Target, input: RouteInput): number | undefined {
  const price = modelInfo(target.provider, target.model).price;
  if (!price) return undefined;
  const output = Math.min(input.maxTokens ?? 1024, 1024);
  return (input.inputTokens * price.input + output * price.output) / 1e6;
}

function order(strategy: StrategyName, targets: Target[], input: RouteInput, position: number, health: HealthState): Target[] {
  if (targets.length < 2) return targets;
  switch (strategy) {
    case "priority":
      return targets;
    case "round-robin": {
      const start = position % targets.length;
      return [...targets.slice(start), ...targets.slice(0, start)];
    }
    case "random":
      return weightedShuffle(targets, seeded(input.id), () => 1);
    case "weighted":
      return weightedShuffle(targets, seeded(input.id), (t) => t.weight);
    case "least-latency": {
      // A target never measured goes first, so that it gets measured; then the fastest.
      const latency = (t: Target) => health.targets[t.id]?.latencyMs ?? -1;
      return [...targets].sort((a, b) => latency(a) - latency(b));
    }
    case "cost": {
      const cost = (t: Target) => expectedCost(t, input) ?? Number.POSITIVE_INFINITY;
      return [...targets].sort((a, b) => cost(a) - cost(b));
    }
  }
}
