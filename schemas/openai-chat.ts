import { Type, type Static, type TSchema } from "@sinclair/typebox";

// Wire bodies of OpenAI Chat Completions (/v1/chat/completions). Loose on purpose: every object
// allows fields we do not know (vendors add their own), and only what the codec reads is typed.
// OpenAI accepts `null` for any optional parameter, and SDKs send it, so optional scalars are nullable.

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Opt = <T extends TSchema>(schema: T) => Type.Optional(Nullable(schema));
const JsonObject = Type.Record(Type.String(), Type.Unknown());

export const ChatRole = Type.Union([
  Type.Literal("system"), Type.Literal("developer"), Type.Literal("user"),
  Type.Literal("assistant"), Type.Literal("tool"), Type.Literal("function"),
]);

/** One element of a message's `content` array; which fields are required depends on `type`. */
export const ChatContentPart = Type.Object({
  type: Type.String(),
  text: Type.Optional(Type.String()),
  refusal: Type.Optional(Type.String()),
  image_url: Type.Optional(Type.Object({
    url: Type.String(),
    detail: Type.Optional(Type.Union([Type.Literal("auto"), Type.Literal("low"), Type.Literal("high")])),
  })),
});

export const ChatToolCall = Type.Object({
  id: Type.String(),
  type: Type.Optional(Type.String()),
  function: Type.Object({ name: Type.String(), arguments: Type.String() }),
});

export const ChatMessage = Type.Object({
  role: ChatRole,
  content: Opt(Type.Union([Type.String(), Type.Array(ChatContentPart)])),
  name: Type.Optional(Type.String()),
  tool_calls: Opt(Type.Array(ChatToolCall)),
  tool_call_id: Type.Optional(Type.String()),
  /** Legacy single function call (before tool_calls). */
  function_call: Opt(Type.Object({ name: Type.String(), arguments: Type.String() })),
  /** DeepSeek-style reasoning text on assistant turns. */
  reasoning_content: Opt(Type.String()),
});

export const ChatTool = Type.Object({
  type: Type.String(),
  function: Type.Optional(Type.Object({
    name: Type.String(),
    description: Type.Optional(Type.String()),
    parameters: Type.Optional(JsonObject),
    strict: Opt(Type.Boolean()),
  })),
});

export const ChatToolChoice = Type.Union([
  Type.Literal("auto"), Type.Literal("none"), Type.Literal("required"),
  Type.Object({ type: Type.String(), function: Type.Optional(Type.Object({ name: Type.String() })) }),
]);

export const ChatResponseFormat = Type.Object({
  type: Type.Union([Type.Literal("text"), Type.Literal("json_object"), Type.Literal("json_schema")]),
  json_schema: Type.Optional(Type.Object({
    name: Type.String(),
    description: Type.Optional(Type.String()),
    schema: Type.Optional(JsonObject),
    strict: Opt(Type.Boolean()),
  })),
});

export const ChatRequestSchema = Type.Object({
  model: Type.String(),
  messages: Type.Array(ChatMessage, { minItems: 1 }),
  tools: Opt(Type.Array(ChatTool)),
  tool_choice: Opt(ChatToolChoice),
  parallel_tool_calls: Opt(Type.Boolean()),
  response_format: Opt(ChatResponseFormat),
  max_tokens: Opt(Type.Integer({ minimum: 0 })),
  max_completion_tokens: Opt(Type.Integer({ minimum: 0 })),
  temperature: Opt(Type.Number()),
  top_p: Opt(Type.Number()),
  stop: Opt(Type.Union([Type.String(), Type.Array(Type.String())])),
  seed: Opt(Type.Integer()),
  reasoning_effort: Opt(Type.String()),
  stream: Opt(Type.Boolean()),
  stream_options: Opt(Type.Object({ include_usage: Opt(Type.Boolean()) })),
  user: Opt(Type.String()),
  n: Opt(Type.Integer({ minimum: 1 })),
  frequency_penalty: Opt(Type.Number()),
  presence_penalty: Opt(Type.Number()),
});

export type ChatRequestBody = Static<typeof ChatRequestSchema>;
export type ChatMessageBody = Static<typeof ChatMessage>;
export type ChatContentPartBody = Static<typeof ChatContentPart>;

// Upstream side: what the codec needs from a response or a chunk. Vendors differ in which
// fields they fill, so nearly everything is optional; absence is handled in the codec.

export const ChatUsage = Type.Object({
  prompt_tokens: Type.Number(),
  completion_tokens: Type.Number(),
  total_tokens: Type.Optional(Type.Number()),
  prompt_tokens_details: Opt(Type.Object({ cached_tokens: Opt(Type.Number()) })),
  completion_tokens_details: Opt(Type.Object({ reasoning_tokens: Opt(Type.Number()) })),
});

const FinishReason = Opt(Type.String());

export const ChatResponseSchema = Type.Object({
  id: Type.Optional(Type.String()),
  created: Type.Optional(Type.Number()),
  model: Type.Optional(Type.String()),
  choices: Type.Array(Type.Object({
    index: Type.Optional(Type.Number()),
    message: Type.Object({
      role: Type.Optional(Type.String()),
      content: Opt(Type.String()),
      refusal: Opt(Type.String()),
      reasoning_content: Opt(Type.String()),
      /** OpenRouter and vLLM name it `reasoning`. */
      reasoning: Opt(Type.String()),
      tool_calls: Opt(Type.Array(ChatToolCall)),
      function_call: Opt(Type.Object({ name: Type.String(), arguments: Type.String() })),
    }),
    finish_reason: FinishReason,
  }), { minItems: 1 }),
  usage: Opt(ChatUsage),
});

export const ChatChunkSchema = Type.Object({
  id: Type.Optional(Type.String()),
  created: Type.Optional(Type.Number()),
  model: Type.Optional(Type.String()),
  choices: Type.Optional(Type.Array(Type.Object({
    index: Type.Optional(Type.Number()),
    delta: Opt(Type.Object({
      content: Opt(Type.String()),
      refusal: Opt(Type.String()),
      reasoning_content: Opt(Type.String()),
      reasoning: Opt(Type.String()),
      tool_calls: Opt(Type.Array(Type.Object({
        index: Type.Optional(Type.Number()),
        id: Opt(Type.String()),
        type: Opt(Type.String()),
        function: Opt(Type.Object({ name: Opt(Type.String()), arguments: Opt(Type.String()) })),
      }))),
    })),
    finish_reason: FinishReason,
  }))),
  usage: Opt(ChatUsage),
});

export type ChatResponseBody = Static<typeof ChatResponseSchema>;
export type ChatChunkBody = Static<typeof ChatChunkSchema>;
export type ChatUsageBody = Static<typeof ChatUsage>;
