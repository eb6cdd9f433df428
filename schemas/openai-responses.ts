import { Type, type Static, type TSchema } from "@sinclair/typebox";

// Wire bodies of the OpenAI Responses API (/v1/responses). Loose on purpose: every object allows
// fields we do not know, and only what the codec reads is typed. An input item's required fields
// depend on its `type`, so the codec checks those and names the field (a union of item shapes
// here would make TypeBox blame the wrong variant). Optional scalars are nullable: SDKs send null.

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Opt = <T extends TSchema>(schema: T) => Type.Optional(Nullable(schema));
const JsonObject = Type.Record(Type.String(), Type.Unknown());

/** One content part of a message item: input_text, input_image, output_text, refusal, … */
export const ContentPartSchema = Type.Object({
  type: Type.String(),
  text: Type.Optional(Type.String()),
  refusal: Type.Optional(Type.String()),
  image_url: Opt(Type.String()),
  file_id: Opt(Type.String()),
  detail: Type.Optional(Type.String()),
});

/** One input item (or output item): message, function_call, function_call_output, reasoning, … */
export const ItemSchema = Type.Object({
  type: Type.Optional(Type.String()),
  id: Opt(Type.String()),
  role: Type.Optional(Type.String()),
  content: Type.Optional(Type.Union([Type.String(), Type.Array(ContentPartSchema)])),
  call_id: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  arguments: Type.Optional(Type.String()),
  output: Type.Optional(Type.Union([Type.String(), Type.Array(ContentPartSchema)])),
  summary: Type.Optional(Type.Array(Type.Object({ type: Type.Optional(Type.String()), text: Type.String() }))),
  encrypted_content: Opt(Type.String()),
  status: Opt(Type.String()),
});

export const ToolSchema = Type.Object({
  type: Type.String(),
  name: Type.Optional(Type.String()),
  description: Opt(Type.String()),
  parameters: Opt(JsonObject),
  strict: Opt(Type.Boolean()),
});

export const ToolChoiceSchema = Type.Union([
  Type.Literal("auto"), Type.Literal("none"), Type.Literal("required"),
  Type.Object({ type: Type.String(), name: Type.Optional(Type.String()) }),
]);

export const TextFormatSchema = Type.Object({
  type: Type.String(),
  name: Type.Optional(Type.String()),
  schema: Type.Optional(JsonObject),
  strict: Opt(Type.Boolean()),
});

export const RequestSchema = Type.Object({
  model: Type.String(),
  input: Type.Optional(Type.Union([Type.String(), Type.Array(ItemSchema)])),
  instructions: Opt(Type.String()),
  tools: Opt(Type.Array(ToolSchema)),
  tool_choice: Opt(ToolChoiceSchema),
  parallel_tool_calls: Opt(Type.Boolean()),
  max_output_tokens: Opt(Type.Integer({ minimum: 1 })),
  temperature: Opt(Type.Number()),
  top_p: Opt(Type.Number()),
  stream: Opt(Type.Boolean()),
  text: Opt(Type.Object({ format: Type.Optional(TextFormatSchema) })),
  reasoning: Opt(Type.Object({ effort: Opt(Type.String()), summary: Opt(Type.String()) })),
  user: Opt(Type.String()),
});

export type RequestBody = Static<typeof RequestSchema>;
export type ItemBody = Static<typeof ItemSchema>;
export type ContentPartBody = Static<typeof ContentPartSchema>;
export type ToolBody = Static<typeof ToolSchema>;

// Upstream side. input_tokens INCLUDES the cached tokens, output_tokens the reasoning tokens (as the IR's).

export const UsageSchema = Type.Object({
  input_tokens: Type.Number(),
  output_tokens: Type.Number(),
  total_tokens: Opt(Type.Number()),
  input_tokens_details: Opt(Type.Object({ cached_tokens: Opt(Type.Number()) })),
  output_tokens_details: Opt(Type.Object({ reasoning_tokens: Opt(Type.Number()) })),
});

export const ResponseSchema = Type.Object({
  id: Type.Optional(Type.String()),
  object: Type.Optional(Type.Literal("response")),
  created_at: Opt(Type.Number()),
  status: Opt(Type.String()),
  model: Type.Optional(Type.String()),
  output: Type.Array(ItemSchema),
  usage: Opt(UsageSchema),
  incomplete_details: Opt(Type.Object({ reason: Opt(Type.String()) })),
  error: Opt(Type.Object({ code: Opt(Type.String()), message: Opt(Type.String()) })),
});

const ErrorFields = {
  code: Opt(Type.String()),
  message: Opt(Type.String()),
  param: Opt(Type.String()),
  type: Opt(Type.String()),
};

/** Every stream event's data in one loose shape: `type` says which fields are there. */
export const StreamEventSchema = Type.Object({
  type: Type.String(),
  sequence_number: Type.Optional(Type.Number()),
  response: Type.Optional(Type.Object({
    id: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    created_at: Opt(Type.Number()),
    status: Opt(Type.String()),
    output: Type.Optional(Type.Array(ItemSchema)),
    usage: Opt(UsageSchema),
    incomplete_details: Opt(Type.Object({ reason: Opt(Type.String()) })),
    error: Opt(Type.Object(ErrorFields)),
  })),
  output_index: Type.Optional(Type.Integer({ minimum: 0 })),
  item: Type.Optional(ItemSchema),
  summary_index: Type.Optional(Type.Integer({ minimum: 0 })),
  delta: Type.Optional(Type.String()),
  arguments: Type.Optional(Type.String()),
  // the `error` event: flat as documented, or nested under `error` as OpenAI sends it at times
  code: ErrorFields.code,
  message: ErrorFields.message,
  param: ErrorFields.param,
  error: Opt(Type.Object(ErrorFields)),
});

export type ResponseBody = Static<typeof ResponseSchema>;
export type UsageBody = Static<typeof UsageSchema>;
export type StreamEventBody = Static<typeof StreamEventSchema>;
