import { Type, type Static } from "@sinclair/typebox";

// Wire bodies of the embeddings endpoints. Loose like the other dialect schemas: unknown fields
// are allowed (and ignored); only what the gateway reads is typed.

/** OpenAI `POST /v1/embeddings`. Token arrays (number[] / number[][]) are refused by the decoder, by name. */
export const OpenAIEmbeddingsBody = Type.Object({
  model: Type.String({ minLength: 1 }),
  input: Type.Union([
    Type.String(),
    Type.Array(Type.String(), { minItems: 1 }),
    Type.Array(Type.Number(), { minItems: 1 }),
    Type.Array(Type.Array(Type.Number()), { minItems: 1 }),
  ]),
  dimensions: Type.Optional(Type.Integer({ minimum: 1 })),
  encoding_format: Type.Optional(Type.Union([Type.Literal("float"), Type.Literal("base64")])),
  user: Type.Optional(Type.String()),
});
export type OpenAIEmbeddingsBody = Static<typeof OpenAIEmbeddingsBody>;

const GeminiEmbedPart = Type.Object({ text: Type.Optional(Type.String()) });

export const GeminiEmbedContent = Type.Object({
  role: Type.Optional(Type.String()),
  parts: Type.Array(GeminiEmbedPart, { minItems: 1 }),
});

/** Gemini `models/{model}:embedContent` (snake_case keys are turned camelCase first). */
export const GeminiEmbedRequest = Type.Object({
  /** "models/{model}"; the model in the URL is the one used. */
  model: Type.Optional(Type.String()),
  content: GeminiEmbedContent,
  taskType: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
  outputDimensionality: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type GeminiEmbedRequest = Static<typeof GeminiEmbedRequest>;

/** Gemini `models/{model}:batchEmbedContents`: what @google/genai's `models.embedContent` calls. */
export const GeminiBatchEmbedRequest = Type.Object({
  requests: Type.Array(GeminiEmbedRequest, { minItems: 1 }),
});
export type GeminiBatchEmbedRequest = Static<typeof GeminiBatchEmbedRequest>;
