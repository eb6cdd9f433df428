import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Codec } from "../dialects/codec.ts";
import { camelCaseBody } from "../dialects/gemini/wire-case.ts";
import { invalid, schemaError } from "../dialects/schema-error.ts";
import { isGatewayError, type GatewayError } from "../errors.ts";
import type { Gateway } from "../gateway.ts";
import type { EmbeddingRequest, EmbeddingResponse } from "../ir.ts";
import {
  GeminiBatchEmbedRequest, GeminiEmbedRequest, OpenAIEmbeddingsBody, type GeminiEmbedRequest as GeminiEmbed,
} from "../../schemas/embeddings.ts";

// The embeddings wire formats ⇄ EmbeddingRequest / EmbeddingResponse:
//   OpenAI  POST /v1/embeddings                        {model, input, dimensions?, encoding_format?}
//   Gemini  POST /v1beta/models/{model}:embedContent    {content, outputDimensionality?} → {embedding: {values}}
//           POST /v1beta/models/{model}:batchEmbedContents {requests: [...]}          → {embeddings: [{values}]}
// Errors use the generation codecs' error bodies (openai-chat, gemini): the same shapes SDKs parse.

export type EmbeddingDialect = "openai-embeddings" | "gemini-embeddings";

/** A decoded client body, and how to write the answer in the client's wire format. */
export interface DecodedEmbedding {
  request: EmbeddingRequest;
  encode(response: EmbeddingResponse, publicModel: string): Record<string, unknown>;
}

export interface EmbeddingWire {
  dialect: EmbeddingDialect;
  /** For errors, in the client's dialect. */
  codec: Codec;
  /** `urlModel` is Gemini's model from the path (the body's is ignored). */
  decode(body: unknown, urlModel: string): DecodedEmbedding | GatewayError;
}

const openaiCheck = TypeCompiler.Compile(OpenAIEmbeddingsBody);
const geminiCheck = TypeCompiler.Compile(GeminiEmbedRequest);
const geminiBatchCheck = TypeCompiler.Compile(GeminiBatchEmbedRequest);

/** Little-endian float32, base64: what OpenAI sends for `encoding_format: "base64"`. */
export function vectorToBase64(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  return bytes.toString("base64");
}

export function openaiWire(gw: Gateway): EmbeddingWire {
  return {
    dialect: "openai-embeddings",
    codec: gw.codecs.get("openai-chat")!,
    decode(body) {
      if (!openaiCheck.Check(body)) {
        const input = (body as { input?: unknown } | null)?.input;
        if (Array.isArray(input) && input.length > 0 && input.some((i) => typeof i === "number" || Array.isArray(i))) {
          return tokenArrays();
        }
        return schemaError(openaiCheck, body, "The request body must be a JSON object with 'model' and 'input'.");
      }
      const input = body.input;
      if (Array.isArray(input) && input.some((i) => typeof i !== "string")) return tokenArrays();
      const inputs = typeof input === "string" ? [input] : (input as string[]);
      const empty = inputs.findIndex((text) => text === "");
      if (empty >= 0) return invalid(typeof input === "string" ? "input" : `input[${empty}]`, "'$.input' is invalid: an input cannot be an empty string.");
      const format = body.encoding_format ?? "float";
      return {
        request: { model: body.model, inputs, ...(body.dimensions !== undefined ? { dimensions: body.dimensions } : {}) },
        encode: (response, publicModel) => ({
          object: "list",
          data: response.vectors.map((vector, index) => ({
            object: "embedding", index, embedding: format === "base64" ? vectorToBase64(vector) : vector,
          })),
          model: publicModel,
          usage: { prompt_tokens: response.usage?.inputTokens ?? 0, total_tokens: response.usage?.inputTokens ?? 0 },
        }),
      };
    },
  };
}

const tokenArrays = () => invalid("input", "Token arrays are not accepted as 'input' here: send the text as a string or an array of strings.");

/** One Gemini embed request's text: the text of its parts, joined; parts other than text are refused. */
function textOf(request: GeminiEmbed, param: string): string | GatewayError {
  const texts: string[] = [];
  for (const [i, part] of request.content.parts.entries()) {
    if (typeof part.text !== "string" || Object.keys(part).some((k) => k !== "text")) {
      return invalid(`${param}.parts[${i}]`, "Only text parts can be embedded here.");
    }
    texts.push(part.text);
  }
  const text = texts.join(" ");
  if (text === "") return invalid(`${param}.parts`, "The content to embed is empty.");
  return text;
}

export function geminiWire(gw: Gateway, action: "embedContent" | "batchEmbedContents"): EmbeddingWire {
  const batch = action === "batchEmbedContents";
  return {
    dialect: "gemini-embeddings",
    codec: gw.codecs.get("gemini")!,
    decode(raw, urlModel) {
      const body = camelCaseBody(raw);
      let requests: GeminiEmbed[];
      if (batch) {
        if (!geminiBatchCheck.Check(body)) return schemaError(geminiBatchCheck, body, "The request body must be a JSON object with 'requests'.");
        requests = body.requests;
      } else {
        if (!geminiCheck.Check(body)) return schemaError(geminiCheck, body, "The request body must be a JSON object with 'content'.");
        requests = [body];
      }
      const inputs: string[] = [];
      for (const [i, request] of requests.entries()) {
        const text = textOf(request, batch ? `requests[${i}].content` : "content");
        if (isGatewayError(text)) return text;
        inputs.push(text);
      }
      const dimensions = requests[0]!.outputDimensionality;
      if (requests.some((r) => r.outputDimensionality !== dimensions)) {
        return invalid("requests", "Every request of a batch must ask for the same outputDimensionality.");
      }
      const model = urlModel.startsWith("models/") ? urlModel.slice(7) : urlModel;
      return {
        request: { model, inputs, ...(dimensions !== undefined ? { dimensions } : {}) },
        encode: (response) => (batch
          ? { embeddings: response.vectors.map((values) => ({ values })) }
          : { embedding: { values: response.vectors[0] ?? [] } }),
      };
    },
  };
}
