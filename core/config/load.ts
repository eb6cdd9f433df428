import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { LineCounter, parseDocument, type Document } from "yaml";
import { ConfigSchema, routeTargetLists, targetName, type Config } from "../../schemas/config.ts";
import { resolveTargets } from "../routing/resolve.ts";
import { redact } from "../gateway.ts";

// Load sluice.yaml: parse YAML, expand ${VAR} / ${VAR:-default} in string values, fill
// defaults, validate against the TypeBox schema. Every failure is one line that names the
// file, the line, the key path, and what was expected vs what was found.

export type ConfigResult = { ok: true; config: Config; digest: string } | { ok: false; error: string };

/** Alias expansions a config may use (the yaml library's own default). */
const MAX_ALIASES = 100;

type Env = Record<string, string | undefined>;
type Path = Array<string | number>;

class ConfigError extends Error {
  constructor(readonly path: Path, message: string) {
    super(message);
  }
}

// Error messages echo what the file holds, and the file may not be a config at all (a key
// file, /etc/shadow given by mistake): echoed text is cut short and anything shaped like a
// credential is redacted.
const SHOWN_MAX = 40;

function looksLikeCredential(text: string): boolean {
  return redact(text, []) !== text;
}

/** Text from the file, safe to put in an error message. */
function shown(text: string, max = SHOWN_MAX): string {
  const redacted = redact(text, []);
  return redacted.length > max ? `${redacted.slice(0, max)}…` : redacted;
}

// What a key name in a config looks like: setting names, model names ("llama3:8b", "org/model"),
// header names. Anything else (a line of some other file) is described, not shown.
const KEY_LIKE = /^[\w.:/@+-]+$/;

function shownKey(key: string): string {
  return KEY_LIKE.test(key) ? shown(key) : `<a key of ${key.length} characters>`;
}

/** `providers[0].api_key` */
export function formatPath(path: Path): string {
  return path.reduce<string>((out, key) =>
    typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${shownKey(key)}` : shownKey(key), "");
}

// Keys whose values are secrets: never echoed in an error message.
const SECRET_KEY = /key|secret|token|password|headers/i;

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function expand(value: unknown, env: Env, path: Path): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (_whole, name: string, fallback: string | undefined) => {
      // `${A:-${B}}` would match up to the first "}" and leave the rest literal: refuse it.
      if (fallback?.includes("{")) {
        throw new ConfigError(path, `\${${shown(name)}:-…} holds "{" in its default: a \${VAR} inside a default is not supported`);
      }
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(path, `environment variable ${shown(name)} is not set (write \${${shown(name)}:-} to allow it empty)`);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => expand(item, env, [...path, i]));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, env, [...path, k])]));
  }
  return value;
}

function describeExpected(schema: TSchema & Record<string, unknown>): string {
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s: { const?: unknown }) => s.const !== undefined)) {
    return `one of ${schema.anyOf.map((s: { const: unknown }) => JSON.stringify(s.const)).join(", ")}`;
  }
  if (typeof schema.description === "string" && schema.pattern) return schema.description;
  const type = schema.type as string | undefined;
  const bounds = [
    schema.minimum !== undefined ? `>= ${schema.minimum}` : "",
    schema.maximum !== undefined ? `<= ${schema.maximum}` : "",
    schema.minLength ? "non-empty" : "",
    schema.minItems ? `at least ${schema.minItems} item(s)` : "",
  ].filter(Boolean).join(", ");
  return `${type === "integer" ? "an integer" : type === "object" ? "a mapping" : type === "array" ? "a list" : `a ${type ?? "value"}`}${bounds ? ` (${bounds})` : ""}`;
}

function describeGot(value: unknown, path: Path): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  const text = String(value);
  const sized = typeof value === "string" ? `a string (${text.length} characters)` : `a ${typeof value}`;
  // A scalar where the whole config should be is likely some other file: never show it.
  if (path.length === 0) return sized;
  const secret = path.some((key) => typeof key === "string" && SECRET_KEY.test(key)) || looksLikeCredential(text);
  if (secret) return `a ${typeof value}`;
  if (text.length > SHOWN_MAX) return sized;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function lineOf(doc: Document, counter: LineCounter, path: Path): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return counter.linePos(node.range[0]).line;
    const pair = n > 0 ? findKeyNode(doc, path.slice(0, n)) : undefined;
    if (pair !== undefined) return counter.linePos(pair).line;
  }
  return undefined;
}

function findKeyNode(doc: Document, path: Path): number | undefined {
  const parent = doc.getIn(path.slice(0, -1), true) as { items?: Array<{ key?: { value?: unknown; range?: number[] } }> } | undefined;
  const key = path[path.length - 1];
  const item = parent?.items?.find((pair) => pair.key?.value === key);
  return item?.key?.range?.[0];
}

function schemaError(value: unknown): { path: Path; message: string } | undefined {
  const error = Value.Errors(ConfigSchema, value).First();
  if (!error) return undefined;
  const path: Path = error.path.split("/").slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, "/").replace(/~0/g, "~")));
  if (error.message === "Unexpected property") {
    const parentSchema = Value.Errors(ConfigSchema, value).First()?.schema as { properties?: Record<string, unknown> };
    const known = parentSchema?.properties ? Object.keys(parentSchema.properties).join(", ") : "";
    return { path, message: `unknown key${known ? ` (known: ${known})` : ""}` };
  }
  if (error.message.startsWith("Expected required property")) {
    return { path, message: "is required" };
  }
  return { path, message: `expected ${describeExpected(error.schema as TSchema & Record<string, unknown>)}, got ${describeGot(error.value, path)}` };
}

/** The document as plain values; an alias bomb ("billion laughs") is a YAML error, not a throw. */
function toPlain(doc: Document, source: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_ALIASES }) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reason = /alias/i.test(message) ? `too many aliases (more than ${MAX_ALIASES} expansions)` : shown(message.split("\n")[0]!, 200);
    return { ok: false, error: `${source}: invalid YAML: ${reason}` };
  }
}

/** Validate config text. `source` names the file in messages. */
export function parseConfig(text: string, source: string, env: Env = process.env): ConfigResult {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const pos = counter.linePos(first.pos[0]);
    const reason = shown(first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""), 200);
    return { ok: false, error: `${source}:${pos.line}:${pos.col}: invalid YAML: ${reason}` };
  }
  const plain = toPlain(doc, source);
  if (!plain.ok) return plain;
  const raw = plain.value ?? {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    return { ok: false, error: `${source}:1: expected a mapping of settings at the top level, got ${describeGot(raw, [])}` };
  }
  let value: unknown;
  try {
    value = expand(raw, env, []);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { ok: false, error: `${source}:${lineOf(doc, counter, error.path) ?? 1}: ${formatPath(error.path)}: ${error.message}` };
  }
  value = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, value));
  const invalid = schemaError(value);
  if (invalid) {
    const where = formatPath(invalid.path) || "(top level)";
    return { ok: false, error: `${source}:${lineOf(doc, counter, invalid.path) ?? 1}: ${where}: ${invalid.message}` };
  }
  const config = value as Config;
  const semantic = checkReferences(config);
  if (semantic) {
    return { ok: false, error: `${source}:${lineOf(doc, counter, semantic.path) ?? 1}: ${formatPath(semantic.path)}: ${semantic.message}` };
  }
  return { ok: true, config, digest: digestOf(config) };
}

export function loadConfigFile(path: string, env: Env = process.env): ConfigResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (error as Error).message;
    return { ok: false, error: `cannot read config ${path}: ${reason}` };
  }
  return parseConfig(text, path, env);
}

/** Checks the schema cannot express: unique names, and routes that point at real providers. */
function checkReferences(config: Config): { path: Path; message: string } | undefined {
  // A short admin key can be guessed (RELIABILITY T25); an empty one means "no admin API".
  if (config.admin_key !== undefined && config.admin_key !== "" && config.admin_key.length < 32) {
    return { path: ["admin_key"], message: `must be at least 32 characters (got ${config.admin_key.length}); e.g. openssl rand -base64 32` };
  }
  const providers = new Set<string>();
  for (const [i, provider] of config.providers.entries()) {
    if (providers.has(provider.id)) return { path: ["providers", i, "id"], message: `duplicate provider id "${shown(provider.id)}"` };
    providers.add(provider.id);
  }
  const routes = new Set<string>();
  for (const [i, route] of config.routes.entries()) {
    if (routes.has(route.name)) return { path: ["routes", i, "name"], message: `duplicate route name "${shown(route.name)}"` };
    routes.add(route.name);
    for (const list of routeTargetLists(route)) {
      for (const [j, entry] of list.targets.entries()) {
        const target = targetName(entry);
        const at: Path = ["routes", i, ...list.path, j];
        const slash = target.indexOf("/");
        if (slash <= 0 || slash === target.length - 1) return { path: at, message: `expected "provider/model", got ${JSON.stringify(shown(target))}` };
        const provider = target.slice(0, slash);
        if (!providers.has(provider)) {
          return { path: at, message: `unknown provider "${shown(provider)}" (configured: ${[...providers].map((p) => shown(p)).join(", ") || "none"})` };
        }
      }
    }
  }
  for (const [alias, to] of Object.entries(config.aliases)) {
    if (routes.has(alias)) return { path: ["aliases", alias], message: `"${shown(alias)}" is already a route name` };
    if (resolveTargets(config, to).length === 0) {
      return { path: ["aliases", alias], message: `"${shown(to)}" is not a route, a provider/model or a model a provider lists` };
    }
  }
  return undefined;
}

/** Check provider kinds against the executor plugins loaded. */
export function checkKinds(config: Config, kinds: Iterable<string>): string | undefined {
  const known = new Set(kinds);
  const bad = config.providers.findIndex((provider) => !known.has(provider.kind));
  if (bad < 0) return undefined;
  return `providers[${bad}].kind: unknown kind "${shown(config.providers[bad]!.kind)}" (known: ${[...known].sort().join(", ")})`;
}

/** A digest of the whole expanded config: shows that it changed without showing what. */
export function digestOf(config: Config): string {
  return createHash("sha256").update(JSON.stringify(config)).digest("hex");
}
