import { calcPrice, findProvider, type ModelInfo as LibraryModel, type ModelPrice, type Provider } from "@pydantic/genai-prices";
import { ModelInfoMap } from "llm-info";
import type { ProviderConfig } from "../../schemas/config.ts";
import type { Usage } from "../ir.ts";
import { modelMatches } from "../routing/resolve.ts";

// What Sluice knows about a model: its context window, its output cap and its price. Three
// sources, first one that knows wins, field by field:
//   1. the provider's `model_info` in sluice.yaml (keyed by model name or `*` pattern);
//   2. llm-info: context and output limits of the major vendors' current models;
//   3. @pydantic/genai-prices: prices (with cache-read/-write rates) and context windows for
//      the providers whose API URL it recognises (so an OpenRouter or Groq base URL is priced too).
// Nothing here goes to the network: both datasets are the copies in node_modules.
//
// Reasoning tokens have no rate of their own: every provider priced here bills them as output
// tokens, and the usage Sluice records counts them inside output_tokens, so they are priced there.

/** USD per million tokens. */
export interface Price {
  input: number;
  output: number;
  cached_input?: number;
  cache_write?: number;
}

export interface ModelInfo {
  /** Context window, tokens (input and output together). */
  context?: number;
  /** Largest output a request may ask for, tokens. */
  maxOutput?: number;
  price?: Price;
}

type Limits = { contextWindowTokenLimit?: number; outputTokenLimit?: number };
const limitsById = ModelInfoMap as unknown as Record<string, Limits | undefined>;

/** Limits from llm-info by exact id, else by a dated id (`claude-sonnet-4-5` → `claude-sonnet-4-5-20250929`). */
function libraryLimits(model: string): Limits | undefined {
  const bare = model.slice(model.lastIndexOf("/") + 1);
  const exact = limitsById[bare];
  if (exact) return exact;
  const dated = Object.keys(limitsById).filter((id) => id.startsWith(`${bare}-`) && /^\d{8}$/.test(id.slice(bare.length + 1)));
  return dated.length > 0 ? limitsById[dated.sort().at(-1)!] : undefined;
}

const priceProviders = new WeakMap<ProviderConfig, Provider | null>();

/** genai-prices' provider for this base URL (matched once per provider config: the match scans every provider). */
function priceProvider(provider: ProviderConfig): Provider | undefined {
  let found = priceProviders.get(provider);
  if (found === undefined) {
    found = (provider.base_url ? findProvider({ providerApiUrl: provider.base_url }) : undefined) ?? null;
    priceProviders.set(provider, found);
  }
  return found ?? undefined;
}

function libraryEntry(provider: ProviderConfig, model: string, at?: Date) {
  const priced = priceProvider(provider);
  if (!priced) return undefined;
  // calcPrice with zero usage returns the matched model (its match rules handle dated and prefixed ids).
  return calcPrice({ input_tokens: 0, output_tokens: 0 }, model, { provider: priced, ...(at ? { timestamp: at } : {}) }) ?? undefined;
}

const entries = new WeakMap<ProviderConfig, Map<string, ReturnType<typeof libraryEntry> | null>>();

function libraryEntryCached(provider: ProviderConfig, model: string) {
  let byModel = entries.get(provider);
  if (!byModel) entries.set(provider, (byModel = new Map()));
  let entry = byModel.get(model);
  if (entry === undefined) {
    entry = libraryEntry(provider, model) ?? null;
    if (byModel.size < 1000) byModel.set(model, entry);
  }
  return entry ?? undefined;
}

function flat(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "object" && value !== null && typeof (value as { base?: unknown }).base === "number") return (value as { base: number }).base;
  return undefined;
}

/** A library price in Sluice's terms (a tiered rate by its base tier), if it has input and output rates. */
function libraryPrice(prices: ModelPrice | undefined): Price | undefined {
  if (!prices || flat(prices.input_mtok) === undefined || flat(prices.output_mtok) === undefined) return undefined;
  return {
    input: flat(prices.input_mtok)!, output: flat(prices.output_mtok)!,
    ...(flat(prices.cache_read_mtok) !== undefined ? { cached_input: flat(prices.cache_read_mtok)! } : {}),
    ...(flat(prices.cache_write_mtok) !== undefined ? { cache_write: flat(prices.cache_write_mtok)! } : {}),
  };
}

function configured(provider: ProviderConfig, model: string) {
  const info = provider.model_info;
  return (Object.hasOwn(info, model) ? info[model] : undefined) ?? Object.entries(info).find(([pattern]) => pattern.includes("*") && modelMatches(pattern, model))?.[1];
}

const cache = new WeakMap<ProviderConfig, Map<string, ModelInfo>>();

/** What is known of `model` as served by `provider` (a config reload brings new provider objects, so a fresh cache). */
export function modelInfo(provider: ProviderConfig, model: string): ModelInfo {
  let byModel = cache.get(provider);
  if (!byModel) cache.set(provider, (byModel = new Map()));
  let info = byModel.get(model);
  if (info) return info;
  const own = configured(provider, model);
  const limits = libraryLimits(model);
  const entry = libraryEntry(provider, model);
  info = {};
  const context = own?.context ?? limits?.contextWindowTokenLimit ?? entry?.model.context_window;
  if (context !== undefined) info.context = context;
  const maxOutput = own?.max_output ?? limits?.outputTokenLimit;
  if (maxOutput !== undefined) info.maxOutput = maxOutput;
  const price = own?.price ?? libraryPrice(entry?.model_price);
  if (price) info.price = price;
  byModel.set(model, info);
  return info;
}

export interface PriceFact {
  /** USD per million tokens. */
  price: Price;
  /** `config`: the provider's model_info in sluice.yaml; `genai-prices`: the bundled dataset. */
  source: "config" | "genai-prices";
  /** A date (YYYY-MM-DD) for every price; `effective_basis` says what it means. */
  effective: string;
  /**
   * `from`: the price applies from that date (the config's `effective`, or the start date of the
   * dataset's price in force, for a price that changed over time).
   * `updated`: the dataset's entry was refreshed that day (genai-prices' updatePrices).
   * `as_of`: no start date is recorded, so the date is the latest one the price is known to be in
   * force: for the dataset, its newest recorded price change at this provider (the dataset
   * records no change to this price up to then); for a config price without `effective`, the
   * day this config was loaded.
   */
  effective_basis: "from" | "updated" | "as_of";
}

const DAY = /^\d{4}-\d{2}-\d{2}/;
const dayOf = (at: Date) => at.toISOString().slice(0, 10);

/** The start dates of a model's dated prices in force at `at`. */
function startDates(model: LibraryModel, at: Date): string[] {
  if (!Array.isArray(model.prices)) return [];
  return model.prices
    .flatMap((p) => p.constraint?.type === "start_date" ? [p.constraint.start_date] : [])
    .filter((day) => new Date(`${day}T00:00:00Z`) <= at);
}

/** The start date of the dated price in force at `at`, for a model whose price changed over time. */
function startDate(model: LibraryModel, at: Date): string | undefined {
  return startDates(model, at).sort().at(-1);
}

// Providers whose price histories date the dataset: it records their changes up to when it was
// compiled, so its newest recorded change (not after `at`) is a day every one of its prices is
// known to have been in force, dated or not.
const DATING_PROVIDERS = ["openai", "anthropic", "google", "aws", "mistral", "openrouter", "deepseek", "x-ai"];
let asOfCache: { day: string; asOf: string | undefined } | undefined;

/** The newest price change the bundled dataset records up to `at`. */
function datasetAsOf(at: Date): string | undefined {
  const day = dayOf(at);
  if (asOfCache?.day === day) return asOfCache.asOf;
  let newest: string | undefined;
  for (const id of DATING_PROVIDERS) {
    for (const model of findProvider({ providerId: id })?.models ?? []) {
      for (const started of startDates(model, at)) if (newest === undefined || started > newest) newest = started;
    }
  }
  asOfCache = { day, asOf: newest };
  return newest;
}

/** The day each provider config object was loaded: when a config price without `effective` is known from. */
const loadedOn = new WeakMap<ProviderConfig, string>();

/** Note that a config's providers were loaded (at start and at each reload) now. */
export function providersLoaded(providers: readonly ProviderConfig[], at: Date = new Date()): void {
  for (const provider of providers) if (!loadedOn.has(provider)) loadedOn.set(provider, dayOf(at));
}

/** The price of `model` at `provider` in force at `at`, where it came from and since when; undefined if unknown. */
export function priceOf(provider: ProviderConfig, model: string, at: Date = new Date()): PriceFact | undefined {
  const own = configured(provider, model)?.price;
  if (own) {
    const price: Price = {
      input: own.input, output: own.output,
      ...(own.cached_input !== undefined ? { cached_input: own.cached_input } : {}),
      ...(own.cache_write !== undefined ? { cache_write: own.cache_write } : {}),
    };
    if ("effective" in own && typeof own.effective === "string" && DAY.test(own.effective)) {
      return { price, source: "config", effective: own.effective.slice(0, 10), effective_basis: "from" };
    }
    let loaded = loadedOn.get(provider);
    if (loaded === undefined) loadedOn.set(provider, (loaded = dayOf(new Date())));
    return { price, source: "config", effective: loaded, effective_basis: "as_of" };
  }
  const entry = libraryEntry(provider, model, at);
  const price = libraryPrice(entry?.model_price);
  if (!entry || !price) return undefined;
  const started = startDate(entry.model, at);
  if (started) return { price, source: "genai-prices", effective: started, effective_basis: "from" };
  if (entry.auto_update_timestamp !== undefined && DAY.test(entry.auto_update_timestamp)) {
    return { price, source: "genai-prices", effective: entry.auto_update_timestamp.slice(0, 10), effective_basis: "updated" };
  }
  // Never changed in the dataset's record: in force as of the newest change the dataset records
  // (the request's own day only if the dataset records none, which the bundled one does).
  return { price, source: "genai-prices", effective: datasetAsOf(at) ?? dayOf(at), effective_basis: "as_of" };
}

/**
 * The cost of one answer in USD, or undefined when the price is unknown. A configured price is
 * applied flat; a library price goes through genai-prices itself, which knows tiered rates.
 */
export function costOf(provider: ProviderConfig, model: string, usage: Usage): number | undefined {
  const cost = rawCost(provider, model, usage);
  // A cost is a sum of money: anything else (a price or a count gone wrong) is no cost at all.
  return cost !== undefined && Number.isFinite(cost) && cost >= 0 ? cost : undefined;
}

function rawCost(provider: ProviderConfig, model: string, usage: Usage): number | undefined {
  const own = configured(provider, model)?.price;
  const cached = usage.cachedInputTokens ?? 0;
  const written = usage.cacheWriteTokens ?? 0;
  if (own) {
    const plain = Math.max(0, usage.inputTokens - cached - written);
    return (plain * own.input + cached * (own.cached_input ?? own.input) + written * (own.cache_write ?? own.input) + usage.outputTokens * own.output) / 1e6;
  }
  const priced = priceProvider(provider);
  if (!priced) return undefined;
  // A flat library price (no tiers) is applied here: calcPrice matches the model afresh on every call.
  const entry = libraryEntryCached(provider, model);
  if (!entry) return undefined;
  const prices = entry.model_price as Record<string, unknown>;
  const keys = ["input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"];
  if (keys.every((k) => prices[k] === undefined || typeof prices[k] === "number")) {
    const rate = (k: string, fallback: number) => (typeof prices[k] === "number" ? prices[k] as number : fallback);
    const input = rate("input_mtok", 0);
    const plain = Math.max(0, usage.inputTokens - cached - written);
    return (plain * input + cached * rate("cache_read_mtok", input) + written * rate("cache_write_mtok", input) + usage.outputTokens * rate("output_mtok", 0)) / 1e6;
  }
  const result = calcPrice({
    input_tokens: usage.inputTokens, output_tokens: usage.outputTokens,
    ...(cached ? { cache_read_tokens: cached } : {}), ...(written ? { cache_write_tokens: written } : {}),
  }, model, { provider: priced });
  return result ? result.total_price : undefined;
}
