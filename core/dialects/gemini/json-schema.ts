// JSON Schema (the IR's) ⇄ Gemini's Schema object, an OpenAPI 3.0 subset. Gemini answers 400 to
// any keyword it does not know, so the way out keeps an allowlist (the fields of Gemini's Schema)
// rather than dropping a list of known offenders: a keyword nobody thought of is dropped too.

type Schema = Record<string, unknown>;

/** The fields of Gemini's Schema object (google.ai.generativelanguage.v1beta.Schema). */
const ALLOWED = new Set([
  "type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems",
  "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern",
  "minimum", "maximum", "anyOf", "propertyOrdering", "default", "example",
]);

/** Gemini rejects other formats ("only 'enum' and 'date-time' are supported for STRING type"). */
const FORMATS: Record<string, Set<string>> = {
  string: new Set(["enum", "date-time"]),
  integer: new Set(["int32", "int64"]),
  number: new Set(["float", "double"]),
};

const isObject = (value: unknown): value is Schema => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * IR JSON Schema → Gemini Schema. Rewrites what has a Gemini spelling: local `$ref`s are inlined
 * from `$defs`/`definitions` (a recursive one becomes `{}`), `const` → a one-value `enum`,
 * `type: [t, "null"]` → `type: t, nullable: true`, other type lists and `oneOf` → `anyOf`, a
 * `{type: "null"}` branch of `anyOf` → `nullable`, `allOf` → its members merged. A tuple's `items`
 * become one schema for every position. Enums that are not all strings, unsupported formats and
 * every other keyword are dropped.
 */
export function toGeminiSchema(schema: Schema): Schema {
  const defs = { ...(isObject(schema.definitions) ? schema.definitions : {}), ...(isObject(schema.$defs) ? schema.$defs : {}) };
  return sanitise(schema, defs, []);
}

/** A function's parameters: Gemini rejects an OBJECT with empty properties, so "no arguments" is no schema at all. */
export function toGeminiParameters(schema: Schema): Schema | undefined {
  const out = toGeminiSchema(schema);
  return out.type === "object" && !isObject(out.properties) && out.anyOf === undefined ? undefined : out;
}

function sanitise(input: Schema, defs: Schema, seen: string[]): Schema {
  let node = input;
  if (typeof node.$ref === "string") {
    const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(node.$ref)?.[1];
    const target = name !== undefined ? defs[name] : undefined;
    if (name === undefined || !isObject(target) || seen.includes(name)) return {};
    const { $ref: _ref, ...rest } = node;
    return sanitise({ ...target, ...rest }, defs, [...seen, name]);
  }
  if (Array.isArray(node.allOf)) {
    const { allOf, ...rest } = node;
    node = (allOf as unknown[]).filter(isObject).reduce<Schema>(merge, rest);
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) if (ALLOWED.has(key)) out[key] = value;

  const branches = [...(Array.isArray(node.anyOf) ? node.anyOf : []), ...(Array.isArray(node.oneOf) ? node.oneOf : [])];
  if (Array.isArray(node.type)) {
    const types = (node.type as unknown[]).filter((t): t is string => typeof t === "string");
    const real = types.filter((t) => t !== "null");
    if (real.length < types.length) out.nullable = true;
    if (real.length === 1) out.type = real[0];
    else if (real.length === 0) out.type = "null";
    else {
      delete out.type;
      branches.push(...real.map((type) => ({ type })));
    }
  }
  if (node.const !== undefined && typeof node.const === "string") {
    out.enum = [node.const];
    out.type ??= "string";
  }
  if (out.enum !== undefined && !(Array.isArray(out.enum) && out.enum.every((v) => typeof v === "string"))) delete out.enum;
  if (typeof out.format === "string" && !FORMATS[out.type as string]?.has(out.format)) delete out.format;

  if (isObject(out.properties)) {
    const properties = Object.fromEntries(
      Object.entries(out.properties).map(([name, child]) => [name, isObject(child) ? sanitise(child, defs, seen) : {}]),
    );
    if (Object.keys(properties).length > 0) out.properties = properties;
    else delete out.properties;
  } else delete out.properties;
  if (Array.isArray(out.required)) {
    const names = isObject(out.properties) ? Object.keys(out.properties) : [];
    const required = out.required.filter((name) => typeof name === "string" && names.includes(name));
    if (required.length > 0) out.required = required;
    else delete out.required;
  } else delete out.required;
  if (isObject(out.items)) out.items = sanitise(out.items, defs, seen);
  else if (Array.isArray(node.items) || Array.isArray(node.prefixItems)) out.items = tupleItems((node.items ?? node.prefixItems) as unknown[], defs, seen);
  else delete out.items;

  delete out.anyOf;
  const kept = branches.filter(isObject).map((branch) => sanitise(branch, defs, seen));
  const real = kept.filter((branch) => !(branch.type === "null" && Object.keys(branch).length === 1));
  if (real.length < kept.length) out.nullable = true;
  if (real.length === 1) return { ...real[0], ...out, ...(out.nullable ? { nullable: true } : {}) };
  if (real.length > 1) out.anyOf = real;
  return out;
}

/** Gemini has no tuples (and wants `items` on every array): one schema that admits every position. */
function tupleItems(items: unknown[], defs: Schema, seen: string[]): Schema {
  const each = items.filter(isObject).map((item) => sanitise(item, defs, seen));
  const distinct = [...new Map(each.map((item) => [JSON.stringify(item), item])).values()];
  return distinct.length === 1 ? distinct[0]! : distinct.length > 1 ? { anyOf: distinct } : {};
}

/** allOf members folded into one: properties and required lists joined, other keys last-wins. */
function merge(into: Schema, member: Schema): Schema {
  const out: Schema = { ...into, ...member };
  if (isObject(into.properties) || isObject(member.properties)) {
    out.properties = { ...(isObject(into.properties) ? into.properties : {}), ...(isObject(member.properties) ? member.properties : {}) };
  }
  if (Array.isArray(into.required) || Array.isArray(member.required)) {
    out.required = [...new Set([...(Array.isArray(into.required) ? into.required : []), ...(Array.isArray(member.required) ? member.required : [])])];
  }
  return out;
}

/**
 * Gemini Schema → JSON Schema for the IR: `"OBJECT"` → `"object"`, `nullable: true` →
 * `type: [t, "null"]`. Every other keyword is already JSON Schema and is kept.
 */
export function fromGeminiSchema(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (typeof out.type === "string") out.type = out.type.toLowerCase();
  if (out.nullable === true && typeof out.type === "string") {
    out.type = [out.type, "null"];
    delete out.nullable;
  }
  if (isObject(out.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([name, child]) => [name, isObject(child) ? fromGeminiSchema(child) : child]),
    );
  }
  if (isObject(out.items)) out.items = fromGeminiSchema(out.items);
  if (Array.isArray(out.anyOf)) out.anyOf = out.anyOf.map((branch) => (isObject(branch) ? fromGeminiSchema(branch) : branch));
  return out;
}
