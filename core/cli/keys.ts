import { statesAt } from "../../events/projections/index.ts";
import { spentBy, type CallerKey, type KeysState } from "../../events/projections/keys.ts";
import { openLog, StartError } from "../boot.ts";
import { createKey, limitProblem, MAX_BUDGET_USD, MAX_COUNT_LIMIT, MAX_EXPIRY_AHEAD_MS, publicKey, revokeKey, type NewKey } from "../keys/keys.ts";
import type { Plugin } from "../plugins/hooks.ts";
import { parseFlags, UsageError } from "./args.ts";
import { budgetSelftest } from "./budget-selftest.ts";
import { resolveConfig } from "./serve.ts";

export const KEYS_HELP = `Usage: sluice keys <create|list|revoke> [flags]

Caller keys. Once a key exists, every data-plane request needs one (Authorization: Bearer,
x-api-key, x-goog-api-key or ?key=). Safe to run beside a running server: it picks the change
up within a second.

  sluice keys create --name NAME [limits]   create a key and print it once
      --models a,b,…      models, routes or \`*\` patterns it may use (default: all)
      --rpm N             requests per minute
      --tpm N             tokens per minute (input estimate + output)
      --concurrency N     requests in flight at once (default: limits.key_in_flight)
      --budget USD        spending cap per --period (day | month | total; default total)
      --expires WHEN      a duration (30d, 12h, 90m) or a date (2027-01-31)
      --ips a,b,…         client addresses or IPv4 CIDR ranges it is accepted from
  sluice keys list                          keys (never the secret), limits and spend
  sluice keys revoke ID                     revoke a key at once
  sluice keys selftest                      prove budget enforcement against a fake upstream
                                            (in a temp directory; exit 0 when it holds)

  --data DIR      data directory (default: the config's data_dir, else ./.sluice)
  --config FILE   config file (for its data_dir)
  --json          print JSON
  -h, --help      show this help`;

const FLAGS = {
  data: { type: "string" }, config: { type: "string" }, json: { type: "boolean" },
  name: { type: "string" }, models: { type: "string" }, rpm: { type: "string" }, tpm: { type: "string" },
  concurrency: { type: "string" }, budget: { type: "string" }, period: { type: "string" }, expires: { type: "string" }, ips: { type: "string" },
} as const;

/** The flag that sets each limit, to name it in a refusal. */
const FLAG_OF = { rpm: "rpm", tpm: "tpm", concurrency: "concurrency", budget_usd: "budget", expires_at: "expires" } as const;

/** A flag's value as the user typed it, short enough for one line. */
function echo(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_COUNT_LIMIT) {
    throw new UsageError(`sluice keys: --${flag} expects a whole number from 1 to ${MAX_COUNT_LIMIT}, got ${echo(value)}`);
  }
  return Number(value);
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  return items.length > 0 ? items : undefined;
}

/** "30d", "12h", "90m" from now, or a date; ms since epoch. */
export function parseExpiry(value: string, now = Date.now()): number {
  const when = expiryOf(value, now);
  if (when === undefined) throw new UsageError(`sluice keys: --expires expects a duration (30d, 12h, 90m) or a date (2027-01-31), got ${echo(value)}`);
  // Past this a key's expiry is a typo, and far enough past it is not a date at all.
  if (when > now + MAX_EXPIRY_AHEAD_MS) throw new UsageError(`sluice keys: --expires must be at most 100 years ahead, got ${echo(value)}`);
  if (when < 0) throw new UsageError(`sluice keys: --expires must be after 1970-01-01, got ${echo(value)}`);
  return when;
}

function expiryOf(value: string, now: number): number | undefined {
  const duration = /^(\d+)([dhm])$/.exec(value);
  if (duration) return now + Number(duration[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[duration[2] as "d" | "h" | "m"];
  const date = Date.parse(value);
  if (Number.isFinite(date) && /^\d{4}-\d{2}-\d{2}/.test(value)) return date;
  return undefined;
}

/** A stored expiry as a date, or as stored when it is not one: a list never fails on a key. */
function expiryText(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : `${date.toISOString().slice(0, 16)}Z`;
}

function describe(key: CallerKey, state: KeysState, now: number): string {
  const limits = [
    key.models ? `models ${key.models.join(",")}` : "",
    key.rpm ? `${key.rpm} rpm` : "",
    key.tpm ? `${key.tpm} tpm` : "",
    key.concurrency ? `${key.concurrency} at once` : "",
    key.budget_usd !== undefined ? `$${spentBy(state, key.id, now).toFixed(4)} of $${key.budget_usd} per ${key.budget_period ?? "total"}` : "",
    key.ips ? `from ${key.ips.join(",")}` : "",
  ].filter(Boolean).join("; ");
  const status = key.revoked_at !== undefined ? "revoked"
    : key.expires_at !== undefined && key.expires_at <= now ? "expired"
    : key.expires_at !== undefined ? `expires ${expiryText(key.expires_at)}` : "active";
  return `${key.id.padEnd(18)} ${key.name.slice(0, 24).padEnd(24)} ${`${key.prefix}…`.padEnd(16)} ${status.padEnd(24)} ${limits || "no limits"}`;
}

export async function keysCommand(args: string[], builtins: Plugin[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === "--help" || action === "-h" || action === "help") {
    console.log(KEYS_HELP);
    return 0;
  }
  if (action === "selftest") {
    const result = await budgetSelftest(builtins);
    for (const line of result.lines) console.log(line);
    console.log(result.ok ? "budget enforcement holds" : "budget enforcement FAILED");
    return result.ok ? 0 : 1;
  }
  if (action !== "create" && action !== "list" && action !== "revoke") {
    throw new UsageError(`sluice keys: unknown action ${echo(action)} (create, list, revoke, selftest; see sluice keys --help)`);
  }
  const positional = action === "revoke" && rest[0] !== undefined && !rest[0].startsWith("-") ? rest.shift() : undefined;
  const { values } = parseFlags(rest, FLAGS, `keys ${action}`);
  if (values.help) {
    console.log(KEYS_HELP);
    return 0;
  }
  let dataDir = values.data;
  if (dataDir === undefined) {
    const kinds = new Set(builtins.flatMap((p) => (p.hook === "executor" ? [p.kind] : [])));
    const resolved = resolveConfig(values.config !== undefined ? { config: values.config } : {}, kinds);
    if (!resolved.ok) throw new StartError(resolved.error);
    dataDir = resolved.config.data_dir;
  }

  const log = openLog(dataDir, "normal");
  try {
    const now = Date.now();
    // From the newest snapshot and the events after it: keys made in archived events count too.
    const state = () => statesAt(log).states.keys;
    switch (action) {
      case "create": {
        if (!values.name) throw new UsageError("sluice keys create: --name is required (see sluice keys --help)");
        if (values.period !== undefined && !["day", "month", "total"].includes(values.period)) {
          throw new UsageError(`sluice keys create: --period expects day, month or total, got ${echo(values.period)}`);
        }
        let budget: number | undefined;
        if (values.budget !== undefined) {
          budget = Number(values.budget);
          if (!/^\d+(\.\d+)?$/.test(values.budget) || !Number.isFinite(budget) || budget > MAX_BUDGET_USD) {
            throw new UsageError(`sluice keys create: --budget expects an amount in USD from 0 to ${MAX_BUDGET_USD}, got ${echo(values.budget)}`);
          }
        }
        const fields: NewKey = { name: values.name.slice(0, 128) };
        const models = list(values.models);
        if (models) fields.models = models;
        const rpm = positiveInt(values.rpm, "rpm");
        if (rpm) fields.rpm = rpm;
        const tpm = positiveInt(values.tpm, "tpm");
        if (tpm) fields.tpm = tpm;
        const concurrency = positiveInt(values.concurrency, "concurrency");
        if (concurrency) fields.concurrency = concurrency;
        if (budget !== undefined) fields.budget_usd = budget;
        if (values.period !== undefined) fields.budget_period = values.period as "day" | "month" | "total";
        if (values.expires !== undefined) fields.expires_at = parseExpiry(values.expires, now);
        const ips = list(values.ips);
        if (ips) fields.ips = ips;
        const problem = limitProblem(fields, now);
        if (problem) throw new UsageError(`sluice keys create: --${FLAG_OF[problem.field]} ${problem.message}`);
        const { id, secret } = await createKey(log, fields, "cli");
        if (values.json) console.log(JSON.stringify({ id, key: secret, ...fields }));
        else console.log(`created ${id} "${fields.name}"\n${secret}\n(shown once: store it now; Sluice keeps only its hash)`);
        return 0;
      }
      case "list": {
        const current = state();
        const all = Object.values(current.keys);
        if (values.json) console.log(JSON.stringify(all.map((k) => ({ ...publicKey(k), spent_usd: spentBy(current, k.id, now) })), null, 2));
        else if (all.length === 0) console.log("no keys: the gateway is open to loopback callers (sluice keys create --name NAME)");
        else for (const key of all) console.log(describe(key, current, now));
        return 0;
      }
      case "revoke": {
        if (!positional) throw new UsageError("sluice keys revoke: give the key id (sluice keys list shows them)");
        const current = state();
        if (!Object.hasOwn(current.keys, positional)) throw new UsageError(`sluice keys revoke: no key ${positional.slice(0, 64)}`);
        const done = await revokeKey(log, current, positional, "cli");
        console.log(done ? `revoked ${positional}` : `${positional} was already revoked`);
        return 0;
      }
    }
  } finally {
    log.close();
  }
}
