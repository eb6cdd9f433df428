import { describe, expect, it } from "vitest";
import { gatewayError, type ErrorKind } from "../../../core/errors.ts";
import { openaiChat } from "../../../core/dialects/openai-chat/index.ts";
import { parseSse } from "../../support/sse.ts";

describe("openai-chat encodeError", () => {
  it("writes OpenAI's error body with the field at fault", () => {
    const error = gatewayError("invalid_request", "Missing required parameter: 'model'.", { param: "model" });
    expect(openaiChat.encodeError(error)).toStrictEqual({
      error: { message: "Missing required parameter: 'model'.", type: "invalid_request_error", param: "model", code: null },
    });
  });

  it.each<[ErrorKind, string, string | null]>([
    ["invalid_request", "invalid_request_error", null],
    ["authentication", "authentication_error", "invalid_api_key"],
    ["permission", "permission_error", null],
    ["not_found", "invalid_request_error", null],
    ["model_not_found", "invalid_request_error", "model_not_found"],
    ["payload_too_large", "invalid_request_error", "request_too_large"],
    ["rate_limited", "rate_limit_exceeded", "rate_limit_exceeded"],
    ["upstream_error", "server_error", null],
    ["upstream_timeout", "server_error", "timeout"],
    ["overloaded", "server_error", "overloaded"],
    ["internal", "server_error", null],
  ])("%s → type %s, code %s", (kind, type, code) => {
    expect(openaiChat.encodeError(gatewayError(kind, "x"))).toStrictEqual({ error: { message: "x", type, param: null, code } });
  });

  it("keeps the error's own code", () => {
    const error = gatewayError("invalid_request", "too long", { code: "context_length_exceeded", param: "messages" });
    expect(openaiChat.encodeError(error)).toMatchObject({ error: { code: "context_length_exceeded", param: "messages" } });
  });
});

describe("openai-chat encodeStreamError", () => {
  it("is one data event that our own stream decoder reads back as an error", () => {
    const text = openaiChat.encodeStreamError(gatewayError("overloaded", "try again later"));
    expect(text).toBe(`data: {"error":{"message":"try again later","type":"server_error","param":null,"code":"overloaded"}}\n\n`);
    const decoder = openaiChat.streamDecoder();
    expect(parseSse(text).flatMap((event) => decoder.push(event))).toStrictEqual([
      { type: "error", error: { kind: "upstream_error", message: "try again later", code: "overloaded" } },
    ]);
  });
});

describe("openai-chat errorMessage", () => {
  it.each([
    [{ error: { message: "Incorrect API key provided", type: "invalid_request_error", param: null, code: "invalid_api_key" } }, "Incorrect API key provided"],
    [{ error: "model is required" }, "model is required"],
    [{ error: { code: 500 } }, undefined],
    [{ message: "not OpenAI's shape" }, undefined],
    ["Bad Gateway", undefined],
    [null, undefined],
  ])("%j → %s", (body, message) => {
    expect(openaiChat.errorMessage(body)).toBe(message);
  });
});

describe("openai-chat codec", () => {
  it("is assembled under its dialect id", () => {
    expect(openaiChat.id).toBe("openai-chat");
    const ir = openaiChat.decodeRequest({ model: "m", messages: [{ role: "user", content: "hi" }] });
    expect(openaiChat.encodeRequest(ir as Exclude<typeof ir, { kind: string }>)).toStrictEqual({
      model: "m", messages: [{ role: "user", content: "hi" }],
    });
  });
});
