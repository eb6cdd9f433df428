import { Type, type Static } from "@sinclair/typebox";

// Wire bodies of Google's Gemini API (models/{model}:generateContent and :streamGenerateContent).
// Loose on purpose: every object allows fields we do not know (Google adds them often), and only
// what the codec reads is typed. Keys are camelCase here; request.ts turns snake_case keys (which
// Google's REST examples use, and which its JSON parser accepts) into camelCase first.

const JsonObject = Type.Record(Type.String(), Type.Unknown());

export const GeminiPart = Type.Object({
  text: Type.Optional(Type.String()),
  /** The text is a thought (reasoning), not the answer. */
  thought: Type.Optional(Type.Boolean()),
  /** Opaque, base64; must go back to Gemini exactly as it came. */
  thoughtSignature: Type.Optional(Type.String()),
  inlineData: Type.Optional(Type.Object({ mimeType: Type.String(), data: Type.String() })),
  fileData: Type.Optional(Type.Object({ mimeType: Type.Optional(Type.String()), fileUri: Type.String() })),
  functionCall: Type.Optional(Type.Object({
    id: Type.Optional(Type.String()),
    name: Type.String(),
    args: Type.Optional(JsonObject),
  })),
  functionResponse: Type.Optional(Type.Object({
    id: Type.Optional(Type.String()),
    name: Type.String(),
    response: Type.Optional(JsonObject),
  })),
});

export const GeminiRole = Type.Union([Type.Literal("user"), Type.Literal("model"), Type.Literal("function")]);

export const GeminiContent = Type.Object({
  /** Absent means "user" (a single-turn request often leaves it out). */
  role: Type.Optional(GeminiRole),
  parts: Type.Array(GeminiPart),
});

export const GeminiFunctionDeclaration = Type.Object({
  name: Type.String(),
  description: Type.Optional(Type.String()),
  /** Gemini's Schema object (an OpenAPI 3.0 subset). */
  parameters: Type.Optional(JsonObject),
  /** Plain JSON Schema, the newer alternative to `parameters`. */
  parametersJsonSchema: Type.Optional(JsonObject),
});

/** One tool entry; besides functions it may hold googleSearch, codeExecution, urlContext, … */
export const GeminiTool = Type.Object({
  functionDeclarations: Type.Optional(Type.Array(GeminiFunctionDeclaration)),
});

export const GeminiToolConfig = Type.Object({
  functionCallingConfig: Type.Optional(Type.Object({
    mode: Type.Optional(Type.Union([
      Type.Literal("AUTO"), Type.Literal("ANY"), Type.Literal("NONE"), Type.Literal("VALIDATED"), Type.Literal("MODE_UNSPECIFIED"),
    ])),
    allowedFunctionNames: Type.Optional(Type.Array(Type.String())),
  })),
});

export const GeminiThinkingConfig = Type.Object({
  includeThoughts: Type.Optional(Type.Boolean()),
  thinkingBudget: Type.Optional(Type.Integer()),
  thinkingLevel: Type.Optional(Type.String()),
});

export const GeminiGenerationConfig = Type.Object({
  maxOutputTokens: Type.Optional(Type.Integer({ minimum: 0 })),
  temperature: Type.Optional(Type.Number()),
  topP: Type.Optional(Type.Number()),
  topK: Type.Optional(Type.Number()),
  stopSequences: Type.Optional(Type.Array(Type.String())),
  seed: Type.Optional(Type.Integer()),
  candidateCount: Type.Optional(Type.Integer({ minimum: 1 })),
  responseMimeType: Type.Optional(Type.String()),
  responseSchema: Type.Optional(JsonObject),
  responseJsonSchema: Type.Optional(JsonObject),
  thinkingConfig: Type.Optional(GeminiThinkingConfig),
});

export const GeminiRequestSchema = Type.Object({
  /** Not Gemini's: the server route copies it from the URL path. */
  model: Type.String(),
  /** Not Gemini's: the server route sets it for :streamGenerateContent. */
  stream: Type.Optional(Type.Boolean()),
  contents: Type.Array(GeminiContent, { minItems: 1 }),
  systemInstruction: Type.Optional(Type.Object({ role: Type.Optional(Type.String()), parts: Type.Array(GeminiPart) })),
  tools: Type.Optional(Type.Array(GeminiTool)),
  toolConfig: Type.Optional(GeminiToolConfig),
  generationConfig: Type.Optional(GeminiGenerationConfig),
  safetySettings: Type.Optional(Type.Array(JsonObject)),
  cachedContent: Type.Optional(Type.String()),
});

export type GeminiRequestBody = Static<typeof GeminiRequestSchema>;
export type GeminiPartBody = Static<typeof GeminiPart>;
export type GeminiContentBody = Static<typeof GeminiContent>;
export type GeminiToolConfigBody = Static<typeof GeminiToolConfig>;
export type GeminiGenerationConfigBody = Static<typeof GeminiGenerationConfig>;
export type GeminiThinkingConfigBody = Static<typeof GeminiThinkingConfig>;

// Upstream side: a GenerateContentResponse, whole or as one stream chunk (the same shape).

export const GeminiUsage = Type.Object({
  promptTokenCount: Type.Optional(Type.Number()),
  cachedContentTokenCount: Type.Optional(Type.Number()),
  candidatesTokenCount: Type.Optional(Type.Number()),
  toolUsePromptTokenCount: Type.Optional(Type.Number()),
  thoughtsTokenCount: Type.Optional(Type.Number()),
  totalTokenCount: Type.Optional(Type.Number()),
});

export const GeminiResponseSchema = Type.Object({
  candidates: Type.Optional(Type.Array(Type.Object({
    content: Type.Optional(Type.Object({ role: Type.Optional(Type.String()), parts: Type.Optional(Type.Array(GeminiPart)) })),
    finishReason: Type.Optional(Type.String()),
    index: Type.Optional(Type.Integer()),
  }))),
  /** A prompt refused before generation: no candidates, a block reason here. */
  promptFeedback: Type.Optional(Type.Object({ blockReason: Type.Optional(Type.String()) })),
  usageMetadata: Type.Optional(GeminiUsage),
  modelVersion: Type.Optional(Type.String()),
  responseId: Type.Optional(Type.String()),
  /** Vertex AI only. */
  createTime: Type.Optional(Type.String()),
});

export type GeminiResponseBody = Static<typeof GeminiResponseSchema>;
export type GeminiUsageBody = Static<typeof GeminiUsage>;

/** google.rpc.Status as Google's JSON APIs send it. */
export const GeminiErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.Optional(Type.Number()),
    message: Type.Optional(Type.String()),
    status: Type.Optional(Type.String()),
  }),
});
