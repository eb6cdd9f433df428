import { targetName, type Config, type ProviderConfig, type RouteConfig, type RouteTargetConfig } from "../../schemas/config.ts";

// Model addressing (SPEC §2): `provider/model` picks exactly that provider; a route name
// expands to its targets; a bare model name goes to the providers that list it, in config order.

export interface Target {
  provider: ProviderConfig;
  /** The model name the upstream sees. */
  model: string;
  /** "provider/model" */
  id: string;
  /** For the weighted strategy (1 unless the route says otherwise). */
  weight: number;
}

/** What a requested model name stands for: a route's targets, or the providers serving a model. */
export interface Resolution {
  route?: RouteConfig;
  /** The alias the client used, when it was one. */
  alias?: string;
  targets: Target[];
}

/**
 * `gpt-*` matches `gpt-4.1`; a name without `*` matches only itself. Matched piece by piece
 * (the first piece at the start, the last at the end, each one between at its first place after
 * the one before), which is linear: a pattern with two `*` as a regular expression (`^a.*b.*c$`)
 * backtracked quadratically on a long model name.
 */
export function modelMatches(pattern: string, model: string): boolean {
  if (!pattern.includes("*")) return pattern === model;
  const pieces = pattern.split("*");
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (model.length < first.length + last.length || !model.startsWith(first) || !model.endsWith(last)) return false;
  let at = first.length;
  const end = model.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = model.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

function target(provider: ProviderConfig, model: string, weight = 1): Target {
  return { provider, model, id: `${provider.id}/${model}`, weight };
}

/** A route's target list (its `targets` or a tier's) as targets, in config order. */
export function routeTargets(config: Config, list: RouteTargetConfig[]): Target[] {
  return list.flatMap((entry) => {
    const name = targetName(entry);
    const slash = name.indexOf("/");
    const provider = config.providers.find((p) => p.id === name.slice(0, slash));
    return provider ? [target(provider, name.slice(slash + 1), typeof entry === "string" ? 1 : entry.weight)] : [];
  });
}

/** What a requested model name stands for; undefined when nothing serves it. Aliases are followed once. */
export function resolve(config: Config, requested: string): Resolution | undefined {
  // Own keys only: a model named "__proto__" or "constructor" is just an unknown model.
  const aliased = Object.hasOwn(config.aliases, requested) ? config.aliases[requested] : undefined;
  const name = aliased ?? requested;
  const alias = aliased !== undefined ? { alias: requested } : {};
  const route = config.routes.find((r) => r.name === name);
  if (route) return { route, ...alias, targets: routeTargets(config, route.targets) };
  const slash = name.indexOf("/");
  if (slash > 0) {
    const provider = config.providers.find((p) => p.id === name.slice(0, slash));
    if (provider && slash < name.length - 1) return { ...alias, targets: [target(provider, name.slice(slash + 1))] };
  }
  const targets = config.providers
    .filter((provider) => provider.models.some((pattern) => modelMatches(pattern, name)))
    .map((provider) => target(provider, name));
  return targets.length > 0 ? { ...alias, targets } : undefined;
}

/** The targets for a requested model name in config order; empty when unknown. */
export function resolveTargets(config: Config, requested: string): Target[] {
  return resolve(config, requested)?.targets ?? [];
}

/** Every public model id: provider/model and bare names of listed (non-pattern) models, and routes. */
export function publicModels(config: Config): Array<{ id: string; owned_by: string }> {
  const seen = new Set<string>();
  const out: Array<{ id: string; owned_by: string }> = [];
  const add = (id: string, owner: string) => {
    if (!seen.has(id)) {
      seen.add(id);
      out.push({ id, owned_by: owner });
    }
  };
  for (const route of config.routes) add(route.name, "sluice");
  for (const alias of Object.keys(config.aliases)) add(alias, "sluice");
  for (const provider of config.providers) {
    for (const model of provider.models) {
      if (model.includes("*")) continue;
      add(`${provider.id}/${model}`, provider.id);
      add(model, provider.id);
    }
  }
  return out;
}
