import { describe, expect, it } from "vitest";
import { gatewayError, type ErrorKind } from "../../../core/errors.ts";
import { gemini } from "../../../core/dialects/gemini/index.ts";
import { parseSse } from "../../support/sse.ts";

describe("gemini encodeError", () => {
  it.each<[ErrorKind, number, string]>([
    ["invalid_request", 400, "INVALID_ARGUMENT"],
    ["authentication", 401, "UNAUTHENTICATED"],
    ["permission", 403, "PERMISSION_DENIED"],
    ["not_found", 404, "NOT_FOUND"],
    ["model_not_found", 404, "NOT_FOUND"],
    ["payload_too_large", 413, "INVALID_ARGUMENT"],
    ["rate_limited", 429, "RESOURCE_EXHAUSTED"],
    ["upstream_error", 502, "INTERNAL"],
    ["upstream_timeout", 504, "DEADLINE_EXCEEDED"],
    ["upstream_unreachable", 502, "UNAVAILABLE"],
    ["overloaded", 529, "UNAVAILABLE"],
    ["unavailable", 503, "UNAVAILABLE"],
    ["cancelled", 499, "CANCELLED"],
    ["internal", 500, "INTERNAL"],
  ])("%s → code %i, status %s", (kind, code, status) => {
    expect(gemini.encodeError(gatewayError(kind, "x"))).toStrictEqual({ error: { code, message: "x", status } });
  });

  it("uses the error's own HTTP status, and names the field at fault as Google does", () => {
    const error = gatewayError("invalid_request", "Missing required parameter: 'contents[0].parts'.", { param: "contents[0].parts", status: 422 });
    expect(gemini.encodeError(error)).toStrictEqual({
      error: {
        code: 422,
        message: "Missing required parameter: 'contents[0].parts'.",
        status: "INVALID_ARGUMENT",
        details: [{
          "@type": "type.googleapis.com/google.rpc.BadRequest",
          fieldViolations: [{ field: "contents[0].parts", description: "Missing required parameter: 'contents[0].parts'." }],
        }],
      },
    });
  });
});

describe("gemini encodeStreamError", () => {
  it("is one CRLF-framed data event that our own stream decoder reads back as an error", () => {
    const text = gemini.encodeStreamError(gatewayError("rate_limited", "Resource has been exhausted (e.g. check quota)."));
    expect(text).toBe(`data: {"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}\r\n\r\n`);
    const decoder = gemini.streamDecoder();
    expect(parseSse(text).flatMap((event) => decoder.push(event))).toStrictEqual([
      { type: "error", error: { kind: "rate_limited", message: "Resource has been exhausted (e.g. check quota)." } },
    ]);
    expect(decoder.end()).toStrictEqual([]);
  });
});

describe("gemini errorMessage", () => {
  it.each([
    [{ error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT" } }, "API key not valid. Please pass a valid API key."],
    [[{ error: { code: 429, message: "Quota exceeded", status: "RESOURCE_EXHAUSTED" } }], "Quota exceeded"],
    [{ error: "a string" }, undefined],
    [{ message: "not Google's shape" }, undefined],
    ["Bad Gateway", undefined],
    [null, undefined],
  ])("%j → %s", (body, message) => {
    expect(gemini.errorMessage(body)).toBe(message);
  });
});

describe("gemini codec", () => {
  it("is assembled under its dialect id", () => {
    expect(gemini.id).toBe("gemini");
    const ir = gemini.decodeRequest({ model: "gemini-2.5-flash", stream: false, contents: [{ role: "user", parts: [{ text: "hi" }] }] });
    expect(gemini.encodeRequest(ir as Exclude<typeof ir, { kind: string }>)).toStrictEqual({ contents: [{ role: "user", parts: [{ text: "hi" }] }] });
  });

  it("passes the client's body through unchanged: the model travels in the URL", () => {
    const raw = `{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"topK": 3}}`;
    expect(gemini.passthroughRequest(raw, "gemini-2.5-pro", { stream: true, clientAskedUsage: false, wantUsage: true }))
      .toStrictEqual({ body: raw, injectedUsage: false });
  });
});
