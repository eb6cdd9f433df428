import type { Request, ResponseFormat, ToolChoice } from "../../ir.ts";
import type {
  GeminiGenerationConfigBody, GeminiThinkingConfigBody, GeminiToolConfigBody,
} from "../../../schemas/gemini.ts";
import { fromGeminiSchema, toGeminiSchema } from "./json-schema.ts";

// toolConfig and generationConfig ⇄ IR options, both ways in one place.

type Options = Pick<Request, "maxTokens" | "temperature" | "topP" | "stop" | "seed" | "responseFormat" | "reasoningEffort">;
type Effort = NonNullable<Request["reasoningEffort"]>;

/**
 * AUTO → auto, NONE → none, ANY → required, ANY limited to one function → that tool. What the IR
 * cannot say (ANY over several names, VALIDATED) gives the nearest choice; request.ts then keeps the
 * client's toolConfig in `extra`, and encodeToolConfig sends it back while the IR still agrees.
 */
export function decodeToolChoice(config: GeminiToolConfigBody | undefined): ToolChoice | undefined {
  const calling = config?.functionCallingConfig;
  const names = calling?.allowedFunctionNames ?? [];
  switch (calling?.mode) {
    case "AUTO": return { type: "auto" };
    case "NONE": return { type: "none" };
    case "ANY": return names.length === 1 ? { type: "tool", name: names[0]! } : { type: "required" };
    default: return undefined;
  }
}

export function encodeToolConfig(choice: ToolChoice | undefined, kept: unknown): Record<string, unknown> | undefined {
  if (kept !== undefined && sameJson(decodeToolChoice(kept as GeminiToolConfigBody), choice)) return kept as Record<string, unknown>;
  switch (choice?.type) {
    case undefined: return undefined;
    case "auto": return { functionCallingConfig: { mode: "AUTO" } };
    case "none": return { functionCallingConfig: { mode: "NONE" } };
    case "required": return { functionCallingConfig: { mode: "ANY" } };
    case "tool": return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [choice.name] } };
  }
}

export const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const RESPONSE_KEYS = ["responseMimeType", "responseSchema", "responseJsonSchema"] as const;
const MAPPED = ["maxOutputTokens", "temperature", "topP", "stopSequences", "seed"] as const;

/**
 * The options the IR has a field for; `rest` is everything else (topK, candidateCount,
 * thinkingConfig, …), kept in `extra.generationConfig` for an upstream of this dialect.
 * A JSON response (`responseMimeType: "application/json"`) with `responseSchema` (Gemini Schema)
 * or `responseJsonSchema` (JSON Schema) is a json-schema format named "response" (Gemini has no
 * name); other MIME types (`text/x.enum`) stay in `rest`. thinkingConfig stays in `rest` whole, and
 * also sets reasoningEffort (see effortOf) so another dialect's upstream thinks about as hard.
 */
export function decodeGenerationConfig(config: GeminiGenerationConfigBody): { options: Options; rest: Record<string, unknown> } {
  const options: Options = {};
  const rest: Record<string, unknown> = { ...config };
  for (const key of MAPPED) delete rest[key];
  if (config.maxOutputTokens !== undefined) options.maxTokens = config.maxOutputTokens;
  if (config.temperature !== undefined) options.temperature = config.temperature;
  if (config.topP !== undefined) options.topP = config.topP;
  if (config.stopSequences !== undefined) options.stop = config.stopSequences;
  if (config.seed !== undefined) options.seed = config.seed;
  const format = decodeResponseFormat(config);
  if (format) {
    options.responseFormat = format;
    for (const key of RESPONSE_KEYS) delete rest[key];
  }
  const effort = config.thinkingConfig && effortOf(config.thinkingConfig);
  if (effort) options.reasoningEffort = effort;
  return { options, rest };
}

function decodeResponseFormat(config: GeminiGenerationConfigBody): ResponseFormat | undefined {
  if (config.responseMimeType === "text/plain" && !config.responseSchema && !config.responseJsonSchema) return { type: "text" };
  if (config.responseMimeType !== "application/json") return undefined;
  if (config.responseJsonSchema) return { type: "json-schema", name: "response", schema: config.responseJsonSchema };
  if (config.responseSchema) return { type: "json-schema", name: "response", schema: fromGeminiSchema(config.responseSchema) };
  return { type: "json" };
}

/** Thinking budgets for an effort that came from another dialect; all fit every Gemini 2.5 and 3 model. */
const BUDGET: Record<Effort, number> = { minimal: 512, low: 1024, medium: 8192, high: 24576 };
const EFFORTS = new Set<string>(["minimal", "low", "medium", "high"]);

/**
 * thinkingLevel (Gemini 3) names an effort itself; a thinkingBudget is read against BUDGET's
 * steps (≤512 minimal, ≤1024 low, ≤8192 medium, more high). 0 (off) and -1 (dynamic) have no IR value.
 */
export function effortOf(config: GeminiThinkingConfigBody): Effort | undefined {
  const level = config.thinkingLevel?.toLowerCase();
  if (level !== undefined && EFFORTS.has(level)) return level as Effort;
  const budget = config.thinkingBudget;
  if (budget === undefined || budget <= 0) return undefined;
  if (budget <= BUDGET.minimal) return "minimal";
  if (budget <= BUDGET.low) return "low";
  if (budget <= BUDGET.medium) return "medium";
  return "high";
}

/**
 * IR options → generationConfig over the kept `rest`. An effort with no kept thinkingConfig goes
 * out as a thinkingBudget (2.5 models reject thinkingLevel; 3 accepts a budget) with
 * includeThoughts, so the reasoning comes back as reasoning. A json-schema format goes out as
 * `responseSchema`, through the same sanitiser as tool parameters.
 */
export function encodeGenerationConfig(ir: Request, kept: unknown): Record<string, unknown> | undefined {
  const config: Record<string, unknown> = typeof kept === "object" && kept !== null ? { ...kept } : {};
  if (ir.maxTokens !== undefined) config.maxOutputTokens = ir.maxTokens;
  if (ir.temperature !== undefined) config.temperature = ir.temperature;
  if (ir.topP !== undefined) config.topP = ir.topP;
  if (ir.stop !== undefined) config.stopSequences = ir.stop;
  if (ir.seed !== undefined) config.seed = ir.seed;
  switch (ir.responseFormat?.type) {
    case undefined: break;
    case "text": config.responseMimeType = "text/plain"; break;
    case "json": config.responseMimeType = "application/json"; break;
    case "json-schema":
      config.responseMimeType = "application/json";
      config.responseSchema = toGeminiSchema(ir.responseFormat.schema);
      break;
  }
  if (ir.reasoningEffort !== undefined && config.thinkingConfig === undefined) {
    config.thinkingConfig = { thinkingBudget: BUDGET[ir.reasoningEffort], includeThoughts: true };
  }
  return Object.keys(config).length > 0 ? config : undefined;
}
