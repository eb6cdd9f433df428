import { describe, expect, it } from "vitest";
import { gatewayError, type ErrorKind } from "../../../core/errors.ts";
import { anthropic } from "../../../core/dialects/anthropic/index.ts";
import { parseSse } from "../../support/sse.ts";

describe("anthropic encodeError", () => {
  it.each<[ErrorKind, string]>([
    ["invalid_request", "invalid_request_error"],
    ["authentication", "authentication_error"],
    ["permission", "permission_error"],
    ["not_found", "not_found_error"],
    ["model_not_found", "not_found_error"],
    ["payload_too_large", "request_too_large"],
    ["rate_limited", "rate_limit_error"],
    ["upstream_error", "api_error"],
    ["upstream_auth", "api_error"],
    ["upstream_timeout", "api_error"],
    ["overloaded", "overloaded_error"],
    ["unavailable", "overloaded_error"],
    ["internal", "api_error"],
  ])("%s → %s", (kind, type) => {
    expect(anthropic.encodeError(gatewayError(kind, "x", { param: "p" }))).toStrictEqual({ type: "error", error: { type, message: "x" } });
  });
});

describe("anthropic encodeStreamError", () => {
  it("is Anthropic's error event, which our own stream decoder reads back", () => {
    const text = anthropic.encodeStreamError(gatewayError("overloaded", "Overloaded"));
    expect(text).toBe(`event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`);
    const decoder = anthropic.streamDecoder();
    expect(parseSse(text).flatMap((event) => decoder.push(event))).toStrictEqual([
      { type: "error", error: { kind: "overloaded", message: "Overloaded", code: "overloaded_error" } },
    ]);
    expect(decoder.end()).toStrictEqual([]);
  });
});

describe("anthropic errorMessage", () => {
  it.each([
    [{ type: "error", error: { type: "not_found_error", message: "model: claude-x" }, request_id: "req_1" }, "model: claude-x"],
    [{ error: "a string" }, undefined],
    [{ message: "not Anthropic's shape" }, undefined],
    ["Bad Gateway", undefined],
    [null, undefined],
  ])("%j → %s", (body, message) => {
    expect(anthropic.errorMessage(body)).toBe(message);
  });
});

describe("anthropic passthroughRequest", () => {
  it("renames the model and changes no other byte, asking for no usage", () => {
    const raw = `{"max_tokens": 10,\n "model":"claude-public", "stream": true, "messages":[{"role":"user","content":"model: \\"x\\""}]}`;
    expect(anthropic.passthroughRequest(raw, "claude-sonnet-4-20250514", { stream: true, clientAskedUsage: false, wantUsage: true })).toStrictEqual({
      body: `{"max_tokens": 10,\n "model":"claude-sonnet-4-20250514", "stream": true, "messages":[{"role":"user","content":"model: \\"x\\""}]}`,
      injectedUsage: false,
    });
  });
});

describe("anthropic streamSignificant", () => {
  const significant = (data: string) => anthropic.streamSignificant!.test(data);

  it("lets through the events that carry usage, the stop reason, the end or an error", () => {
    for (const type of ["message_start", "message_delta", "message_stop", "error"]) {
      expect(significant(`event: ${type}\ndata: {"type": "${type}"}\n\n`)).toBe(true);
    }
  });

  it("skips content and pings, even content that quotes an event type", () => {
    expect(significant(`event: ping\ndata: {"type": "ping"}\n\n`)).toBe(false);
    expect(significant(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"{\\"type\\":\\"error\\"}"}}\n\n`)).toBe(false);
  });
});

describe("anthropic codec", () => {
  it("is assembled under its dialect id", () => {
    expect(anthropic.id).toBe("anthropic");
    const ir = anthropic.decodeRequest({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });
    expect(anthropic.encodeRequest(ir as Exclude<typeof ir, { kind: string }>)).toStrictEqual({
      model: "m", max_tokens: 5, messages: [{ role: "user", content: "hi" }],
    });
  });
});
