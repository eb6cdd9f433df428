import { Type, type Static, type TSchema } from "@sinclair/typebox";

// Wire bodies of Anthropic Messages (/v1/messages). Loose on purpose: every object allows fields
// we do not know (cache_control, citations, new block types), and only what the codec reads is
// typed. A content block's required fields depend on its `type`, so the codec checks those and
// names the field; a union of block shapes here would make TypeBox blame the wrong variant.

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Opt = <T extends TSchema>(schema: T) => Type.Optional(Nullable(schema));
const JsonObject = Type.Record(Type.String(), Type.Unknown());

export const ImageSourceSchema = Type.Object({
  type: Type.String(),
  media_type: Type.Optional(Type.String()),
  data: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
});

/** What a tool_result's content array may hold: text and images. */
export const ResultBlock = Type.Object({
  type: Type.String(),
  text: Type.Optional(Type.String()),
  source: Type.Optional(ImageSourceSchema),
});

/** One content block of a request message or a response; which fields it needs depends on `type`. */
export const ContentBlock = Type.Object({
  type: Type.String(),
  text: Type.Optional(Type.String()),
  source: Type.Optional(ImageSourceSchema),
  id: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  input: Type.Optional(JsonObject),
  tool_use_id: Type.Optional(Type.String()),
  content: Type.Optional(Type.Union([Type.String(), Type.Array(ResultBlock)])),
  is_error: Opt(Type.Boolean()),
  thinking: Type.Optional(Type.String()),
  signature: Type.Optional(Type.String()),
  data: Type.Optional(Type.String()),
});

export const MessageSchema = Type.Object({
  role: Type.Union([Type.Literal("user"), Type.Literal("assistant")]),
  content: Type.Union([Type.String(), Type.Array(ContentBlock)]),
});

export const TextBlockSchema = Type.Object({ type: Type.Literal("text"), text: Type.String() });

export const ToolSchema = Type.Object({
  /** Absent or "custom" for a client tool; anything else is a server tool (web_search_…, bash_…). */
  type: Type.Optional(Type.String()),
  name: Type.String(),
  description: Type.Optional(Type.String()),
  input_schema: Type.Optional(JsonObject),
  strict: Type.Optional(Type.Boolean()),
});

export const ToolChoiceSchema = Type.Object({
  type: Type.Union([Type.Literal("auto"), Type.Literal("any"), Type.Literal("tool"), Type.Literal("none")]),
  name: Type.Optional(Type.String()),
  disable_parallel_tool_use: Type.Optional(Type.Boolean()),
});

export const RequestSchema = Type.Object({
  model: Type.String(),
  messages: Type.Array(MessageSchema, { minItems: 1 }),
  // Required, as Anthropic requires it: a client of this dialect always sends it.
  max_tokens: Type.Integer({ minimum: 1 }),
  system: Type.Optional(Type.Union([Type.String(), Type.Array(TextBlockSchema)])),
  tools: Type.Optional(Type.Array(ToolSchema)),
  tool_choice: Type.Optional(ToolChoiceSchema),
  temperature: Type.Optional(Type.Number()),
  top_p: Type.Optional(Type.Number()),
  top_k: Type.Optional(Type.Integer({ minimum: 0 })),
  stop_sequences: Type.Optional(Type.Array(Type.String())),
  stream: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Type.Object({ user_id: Opt(Type.String()) })),
  thinking: Type.Optional(Type.Object({ type: Type.String(), budget_tokens: Type.Optional(Type.Integer()) })),
});

export type RequestBody = Static<typeof RequestSchema>;
export type MessageBody = Static<typeof MessageSchema>;
export type ContentBlockBody = Static<typeof ContentBlock>;
export type ResultBlockBody = Static<typeof ResultBlock>;
export type ToolBody = Static<typeof ToolSchema>;

// Upstream side. Anthropic's input_tokens EXCLUDES the cache reads and writes (the IR's includes them).

export const UsageSchema = Type.Object({
  input_tokens: Opt(Type.Number()),
  output_tokens: Opt(Type.Number()),
  cache_read_input_tokens: Opt(Type.Number()),
  cache_creation_input_tokens: Opt(Type.Number()),
});

export const ResponseSchema = Type.Object({
  id: Type.Optional(Type.String()),
  type: Type.Optional(Type.Literal("message")),
  model: Type.Optional(Type.String()),
  content: Type.Array(ContentBlock),
  stop_reason: Opt(Type.String()),
  stop_sequence: Opt(Type.String()),
  usage: Opt(UsageSchema),
});

/** Every stream event's data in one loose shape: `type` says which fields are there. */
export const StreamEventSchema = Type.Object({
  type: Type.String(),
  index: Type.Optional(Type.Integer({ minimum: 0 })),
  message: Type.Optional(Type.Object({
    id: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    usage: Opt(UsageSchema),
  })),
  content_block: Type.Optional(ContentBlock),
  delta: Type.Optional(Type.Object({
    type: Type.Optional(Type.String()),
    text: Type.Optional(Type.String()),
    partial_json: Type.Optional(Type.String()),
    thinking: Type.Optional(Type.String()),
    signature: Type.Optional(Type.String()),
    stop_reason: Opt(Type.String()),
    stop_sequence: Opt(Type.String()),
  })),
  usage: Opt(UsageSchema),
  error: Type.Optional(Type.Object({ type: Type.Optional(Type.String()), message: Type.Optional(Type.String()) })),
});

export type ResponseBody = Static<typeof ResponseSchema>;
export type UsageBody = Static<typeof UsageSchema>;
export type StreamEventBody = Static<typeof StreamEventSchema>;
