import type { Config, ProviderConfig } from "../../schemas/config.ts";

// Model addressing (SPEC §2): `provider/model` picks exactly that provider; a route name
// expands to its targets; a bare model name goes to the providers that list it, in config order.

export interface Target {
  provider: ProviderConfig;
  /** The model name the upstream sees. */
  model: string;
  /** "provider/model" */
  id: string;
}

const patterns = new Map<string, RegExp>();

/** `gpt-*` matches `gpt-4.1`; a name without `*` matches only itself. */
export function modelMatches(pattern: string, model: string): boolean {
  if (!pattern.includes("*")) return pattern === model;
  let regex = patterns.get(pattern);
  if (!regex) {
    regex = new RegExp(`^${pattern.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
    patterns.set(pattern, regex);
  }
  return regex.test(model);
}

function target(provider: ProviderConfig, model: string): Target {
  return { provider, model, id: `${provider.id}/${model}` };
}

/** The targets for a requested model name, in the order they are tried; empty when unknown. */
export function resolveTargets(config: Config, requested: string): Target[] {
  const route = config.routes.find((r) => r.name === requested);
  if (route) {
    return route.targets.flatMap((t) => {
      const slash = t.indexOf("/");
      const provider = config.providers.find((p) => p.id === t.slice(0, slash));
      return provider ? [target(provider, t.slice(slash + 1))] : [];
    });
  }
  const slash = requested.indexOf("/");
  if (slash > 0) {
    const provider = config.providers.find((p) => p.id === requested.slice(0, slash));
    if (provider && slash < requested.length - 1) return [target(provider, requested.slice(slash + 1))];
  }
  return config.providers
    .filter((provider) => provider.models.some((pattern) => modelMatches(pattern, requested)))
    .map((provider) => target(provider, requested));
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
  for (const provider of config.providers) {
    for (const model of provider.models) {
      if (model.includes("*")) continue;
      add(`${provider.id}/${model}`, provider.id);
      add(model, provider.id);
    }
  }
  return out;
}
