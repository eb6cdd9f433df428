import type { ImagePart, Message, Part, Request, ToolChoice, ToolDefinition, ToolResultPart } from "../../ir.ts";
import { assistantBlocks } from "./response.ts";

// IR → a body the Anthropic Messages API accepts. Everything the IR cannot say in this dialect
// (seed) is dropped here, on purpose, rather than sent for the upstream to reject. A response
// format goes out as structured outputs (`output_config.format`, see encodeOutputConfig): it must
// never be dropped, or a client asking for JSON silently gets prose back.

type Block = Record<string, unknown>;
type WireMessage = { role: "user" | "assistant"; content: Block[] };

/**
 * Anthropic requires max_tokens and other dialects do not: a request without a limit gets this
 * one. 4096 is an answer-sized limit every current Claude model accepts (the smallest output cap
 * among them is 4096), so it never fails a request that would have worked without it.
 */
export const DEFAULT_MAX_TOKENS = 4096;

/** Thinking budgets for the IR's reasoningEffort (Anthropic's minimum budget is 1024). */
const BUDGET: Record<NonNullable<Request["reasoningEffort"]>, number> = { minimal: 1024, low: 2048, medium: 8192, high: 24576 };

export function encodeRequest(ir: Request, adjust?: (note: string) => void): Record<string, unknown> {
  const body: Record<string, unknown> = { model: ir.model, max_tokens: ir.maxTokens ?? DEFAULT_MAX_TOKENS };
  if (ir.system.length > 0) {
    body.system = ir.system.length === 1 && !ir.system[0]!.cacheControl
      ? ir.system[0]!.text
      : ir.system.map((part) => mark({ type: "text", text: part.text }, part));
  }
  body.messages = encodeMessages(ir.messages);
  // Server tools a client of this dialect sent (see request.ts) follow its own tools.
  const serverTools = Array.isArray(ir.extra.tools) ? ir.extra.tools : [];
  const tools = [...ir.tools.map(encodeTool), ...serverTools];
  if (tools.length > 0) body.tools = tools;
  const choice = encodeToolChoice(ir.toolChoice, ir.parallelToolCalls, tools.length > 0);
  if (choice) body.tool_choice = choice;
  if (ir.temperature !== undefined) body.temperature = ir.temperature;
  if (ir.topP !== undefined) body.top_p = ir.topP;
  if (ir.stop !== undefined && ir.stop.length > 0) body.stop_sequences = ir.stop;
  if (ir.stream) body.stream = true;
  if (ir.user !== undefined) body.metadata = { user_id: ir.user };
  if (!("thinking" in ir.extra) && ir.reasoningEffort !== undefined) addThinking(body, ir);
  const outputConfig = encodeOutputConfig(ir.responseFormat, ir.extra.output_config);
  if (outputConfig) body.output_config = outputConfig;
  for (const [key, value] of Object.entries(ir.extra)) {
    if (!(key in body) && key !== "tools") body[key] = value;
  }
  if (thinkingOn(body.thinking) && unsignedToolTurn(body.messages as WireMessage[])) {
    delete body.thinking;
    adjust?.("thinking=off (the tool-use turn being continued has no Claude thinking block: another provider answered it)");
  }
  return body;
}

function thinkingOn(thinking: unknown): boolean {
  return typeof thinking === "object" && thinking !== null && (thinking as { type?: unknown }).type !== "disabled";
}

/**
 * With thinking on, Anthropic rejects a tool-use continuation whose last assistant turn does not
 * start with its (signed) thinking block. A turn another provider answered has none that Claude
 * would accept (the signature store strips foreign signatures), so such a turn goes without
 * thinking rather than failing with a 400 the client cannot fix.
 */
function unsignedToolTurn(messages: WireMessage[]): boolean {
  const index = messages.findLastIndex((m) => m.role === "assistant");
  const turn = messages[index];
  if (!turn || index === messages.length - 1 || !Array.isArray(turn.content)) return false;
  if (!turn.content.some((block) => block.type === "tool_use")) return false;
  const first = turn.content[0]?.type;
  return first !== "thinking" && first !== "redacted_thinking";
}

/**
 * IR response format → Anthropic structured outputs, `output_config: {format: {type: "json_schema",
 * schema}}` (Messages API, https://platform.claude.com/docs/en/build-with-claude/structured-outputs),
 * merged over any output_config the client of this dialect sent (its `effort`). The answer comes back
 * as an ordinary text block holding the JSON, so nothing changes on the way back. Anthropic has no
 * schema-less JSON mode: "json" (OpenAI's json_object) goes out as the schema of any object; a model
 * that cannot take it answers 400, a clear error rather than prose. "text" needs nothing.
 */
function encodeOutputConfig(format: Request["responseFormat"], kept: unknown): Record<string, unknown> | undefined {
  const config: Record<string, unknown> = typeof kept === "object" && kept !== null && !Array.isArray(kept) ? { ...kept } : {};
  if (format?.type === "json-schema") config.format = { type: "json_schema", schema: format.schema };
  else if (format?.type === "json") config.format = { type: "json_schema", schema: { type: "object" } };
  return Object.keys(config).length > 0 ? config : undefined;
}

/**
 * A reasoning effort from another dialect becomes extended thinking with a budget by effort, kept
 * under max_tokens (the budget is part of it). With no client limit, the budget is added on top of
 * the default so the answer keeps its room. Thinking refuses forced tool use, temperature and a
 * top_p under 0.95, so a forced tool choice goes without thinking, and the samplers are dropped.
 */
function addThinking(body: Record<string, unknown>, ir: Request): void {
  if (ir.toolChoice?.type === "required" || ir.toolChoice?.type === "tool") return;
  const wanted = BUDGET[ir.reasoningEffort!];
  const budget = ir.maxTokens === undefined ? wanted : Math.min(wanted, ir.maxTokens - 1);
  if (budget < 1024) return;
  if (ir.maxTokens === undefined) body.max_tokens = DEFAULT_MAX_TOKENS + budget;
  body.thinking = { type: "enabled", budget_tokens: budget };
  delete body.temperature;
  if (typeof body.top_p === "number" && body.top_p < 0.95) delete body.top_p;
}

/**
 * Tool messages become user turns of tool_result blocks, and consecutive turns of one role are
 * merged: Anthropic wants every result of an assistant turn in the one user turn after it.
 * A turn left empty (only parts this dialect cannot carry) is dropped; Anthropic rejects empty turns.
 */
function encodeMessages(messages: Message[]): Array<Record<string, unknown>> {
  const out: WireMessage[] = [];
  for (const message of messages) {
    const role = message.role === "assistant" ? "assistant" : "user";
    const content = role === "assistant" ? assistantBlocks(message.content, true) : userBlocks(message.content);
    if (content.length === 0) continue;
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...content);
    else out.push({ role, content });
  }
  // One text block is sent as a plain string, as clients write it (unless it marks a cache breakpoint).
  return out.map(({ role, content }) =>
    ({ role, content: content.length === 1 && content[0]!.type === "text" && !content[0]!.cache_control ? content[0]!.text : content }));
}

/** `block` with the part's cache breakpoint, when it has one. */
export function mark(block: Block, part: { cacheControl?: Record<string, unknown> }): Block {
  if (part.cacheControl) block.cache_control = part.cacheControl;
  return block;
}

function userBlocks(parts: Part[]): Block[] {
  const blocks: Block[] = [];
  for (const part of parts) {
    switch (part.type) {
      case "text":
        if (part.text !== "") blocks.push(mark({ type: "text", text: part.text }, part));
        break;
      case "image":
        blocks.push(mark(imageBlock(part), part));
        break;
      case "tool-result":
        blocks.push(mark(toolResultBlock(part), part));
        break;
      case "tool-call":
      case "reasoning":
        break; // a user turn cannot carry them in this dialect
      default: {
        const unreachable: never = part;
        throw new Error(`unknown part ${JSON.stringify(unreachable)}`);
      }
    }
  }
  return blocks;
}

function imageBlock(part: ImagePart): Block {
  const source = part.source.kind === "url"
    ? { type: "url", url: part.source.url }
    : { type: "base64", media_type: part.source.mediaType, data: part.source.data };
  return { type: "image", source };
}

/** One text result is sent as a string; no content at all leaves `content` out. */
function toolResultBlock(part: ToolResultPart): Block {
  const block: Block = { type: "tool_result", tool_use_id: part.toolCallId };
  const [first] = part.content;
  if (part.content.length === 1 && first!.type === "text" && !first!.cacheControl) block.content = first!.text;
  else if (part.content.length > 0) {
    block.content = part.content.map((p) => mark(p.type === "text" ? { type: "text", text: p.text } : imageBlock(p), p));
  }
  if (part.isError !== undefined) block.is_error = part.isError;
  return block;
}

/** Anthropic requires an object schema; a schema from another dialect that leaves `type` out gets it. */
function encodeTool(tool: ToolDefinition): Block {
  const block: Block = { name: tool.name };
  if (tool.description !== undefined) block.description = tool.description;
  block.input_schema = "type" in tool.parameters ? tool.parameters : { type: "object", ...tool.parameters };
  if (tool.strict !== undefined) block.strict = tool.strict;
  return mark(block, tool);
}

/** Parallel calls are a flag on the choice; "none" takes no flag. */
function encodeToolChoice(choice: ToolChoice | undefined, parallel: boolean | undefined, hasTools: boolean): Block | undefined {
  if (choice === undefined && (parallel !== false || !hasTools)) return undefined;
  const wire: Block = choice === undefined ? { type: "auto" }
    : choice.type === "required" ? { type: "any" }
    : choice.type === "tool" ? { type: "tool", name: choice.name }
    : { type: choice.type };
  if (parallel === false && wire.type !== "none") wire.disable_parallel_tool_use = true;
  return wire;
}
