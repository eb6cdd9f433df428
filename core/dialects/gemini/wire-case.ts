// Google's JSON parser accepts proto field names in snake_case as well as camelCase, and the
// Gemini REST docs write `system_instruction`, `inline_data`, `function_declarations`, … — so a
// client body may use either, or both. The codec reads camelCase only; this rewrites the keys
// of Gemini's own objects and leaves user data alone: function arguments and responses, JSON
// Schemas (whose `$defs` names a `$ref` points at), enum values, and property names.
// It also wraps a lone object where a list belongs (`"parts": {"text": …}`), which Google accepts.

/** Values kept verbatim: user data, or plain JSON Schema. */
const VERBATIM = new Set([
  "args", "response", "default", "example", "enum", "labels", "partMetadata",
  "parametersJsonSchema", "responseJsonSchema",
]);
/** Values that are Gemini Schema objects: keywords are Google's, but `properties` keys are the user's. */
const SCHEMA = new Set(["parameters", "responseSchema"]);
const LISTS = new Set(["contents", "parts"]);

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export function camelCaseBody(value: unknown): unknown {
  return rewrite(value, false);
}

function rewrite(value: unknown, inSchema: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => rewrite(item, inSchema));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [rawKey, child] of Object.entries(value)) {
    const key = camel(rawKey);
    if (VERBATIM.has(key)) out[key] = child;
    else if (inSchema && key === "properties" && isObject(child)) {
      out[key] = Object.fromEntries(Object.entries(child).map(([name, schema]) => [name, rewrite(schema, true)]));
    } else {
      const next = rewrite(child, inSchema || SCHEMA.has(key));
      out[key] = LISTS.has(key) && isObject(next) ? [next] : next;
    }
  }
  return out;
}
