import type { TSchema } from "@sinclair/typebox";
import type { TypeCheck } from "@sinclair/typebox/compiler";
import { ValueErrorType, type ValueError } from "@sinclair/typebox/errors";
import { gatewayError, type GatewayError } from "../errors.ts";

// TypeBox says where a body failed its schema; this turns the first failure into an
// invalid_request error with a `param` path (`messages[2].content`), worded as OpenAI words them.
// Nothing here is specific to this dialect.

export const invalid = (param: string, message: string) => gatewayError("invalid_request", message, { param });
export const missing = (param: string) => invalid(param, `Missing required parameter: '${param}'.`);

/** The error for a body that `check` rejected; `rootMessage` when the body itself is the wrong type. */
export function schemaError<T extends TSchema>(check: TypeCheck<T>, body: unknown, rootMessage: string): GatewayError {
  const first = check.Errors(body).First();
  if (!first || first.path === "") return gatewayError("invalid_request", rootMessage);
  const error = deepest(first);
  const param = paramOf(error.path);
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return missing(param);
    case ValueErrorType.ArrayMinItems:
      return invalid(param, `Invalid '${param}': empty array. Expected an array with at least one element.`);
    case ValueErrorType.Union:
    case ValueErrorType.Literal:
    case ValueErrorType.String:
    case ValueErrorType.Number:
    case ValueErrorType.Integer:
    case ValueErrorType.Boolean:
    case ValueErrorType.Array:
    case ValueErrorType.Object:
    case ValueErrorType.Null: {
      const options = expected(error.schema);
      // A wrong string among named values is quoted (short ones only): it is a typo, not content.
      const wrongValue = typeof error.value === "string" && options.some((o) => o.startsWith('"'));
      const got = wrongValue && (error.value as string).length <= 40 ? JSON.stringify(error.value) : kindOf(error.value);
      return invalid(param, `Invalid ${wrongValue ? "value" : "type"} for '${param}': expected ${listed(options)}, but got ${got} instead.`);
    }
    default:
      return invalid(param, `Invalid '${param}': ${error.message.toLowerCase()}.`);
  }
}

const TYPE_MISMATCH = new Set([
  ValueErrorType.Union, ValueErrorType.Literal, ValueErrorType.String, ValueErrorType.Number, ValueErrorType.Integer,
  ValueErrorType.Boolean, ValueErrorType.Array, ValueErrorType.Object, ValueErrorType.Null,
]);

/**
 * A union fails as a whole; the variant that got furthest names the real culprit: the one that
 * failed deepest inside the value, or one whose type matched but a limit did not (`-1` for an integer ≥ 0).
 */
function deepest(error: ValueError): ValueError {
  if (error.type !== ValueErrorType.Union) return error;
  let best = error;
  for (const variant of error.errors) {
    const first = variant.First();
    const candidate = first && deepest(first);
    if (!candidate) continue;
    const deeper = candidate.path.length > best.path.length;
    const closer = candidate.path.length === best.path.length && best === error && !TYPE_MISMATCH.has(candidate.type);
    if (deeper || closer) best = candidate;
  }
  return best;
}

/** `/messages/2/content` → `messages[2].content`. */
export function paramOf(path: string): string {
  return path.split("/").slice(1).map((raw) => raw.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((out, key) => (/^\d+$/.test(key) ? `${out}[${key}]` : out ? `${out}.${key}` : key), "");
}

/** What a schema accepts, one phrase per alternative (`"auto"`, `an object`, `null`). */
function expected(schema: TSchema): string[] {
  if (schema.const !== undefined) return [JSON.stringify(schema.const)];
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).flatMap(expected);
  if (schema.type === "null") return ["null"];
  const article = ["array", "object", "integer"].includes(schema.type as string) ? "an" : "a";
  return [`${article} ${schema.type}`];
}

const listed = (options: string[]) =>
  options.length === 1 ? options[0]! : `${options.slice(0, -1).join(", ")} or ${options.at(-1)}`;

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a number";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
