import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { GatewayError } from "../../../core/errors.ts";
import { emptyRequest, type Request } from "../../../core/ir.ts";
import { decodeRequest, encodeRequest } from "../../../core/dialects/anthropic/request.ts";
import { invalid, ok } from "../../support/codec.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/anthropic/${name}`, import.meta.url), "utf8"));

const decoded = (body: unknown): Request => ok(decodeRequest(body));

const rejected = (body: unknown): GatewayError => invalid(decodeRequest(body));

const user = (content: unknown) => ({ role: "user", content });
const minimal = (extra: Record<string, unknown> = {}) => ({ model: "m", max_tokens: 100, messages: [user("hi")], ...extra });

const SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds4MG2Eq0JTDgkFMDpYwAA3BFLuJm9LZHKCvZoUECr2hu+j6gd0iMVQYLMyMLJwpbHIPwaQ==";
const REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pWmFtEbBBZSkZ8E2Y";

describe("anthropic decodeRequest: a client body that uses most of the surface", () => {
  const body = fixture("request.json");

  it("maps every field to the IR", () => {
    expect(decodeRequest(body)).toStrictEqual({
      model: "claude-sonnet-4-20250514",
      // the cache breakpoint is carried, so a rewritten request keeps it
      system: [{ type: "text", text: "You are a terse travel assistant.", cacheControl: { type: "ephemeral" } }, { type: "text", text: "Answer in English." }],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is the weather where this photo was taken, and what time is it there?" },
            { type: "image", source: { kind: "url", url: "https://example.com/eiffel.jpg" } },
            {
              type: "image",
              source: { kind: "base64", mediaType: "image/png", data: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==" },
            },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "reasoning", text: "The photo shows the Eiffel Tower, so Paris. I need weather and time.", signature: SIGNATURE },
            { type: "reasoning", text: "", redacted: REDACTED },
            // the input object is serialised once, compactly
            { type: "tool-call", id: "toolu_01A09q90qw90lq917835lq9", name: "get_weather", arguments: '{"location":"Paris, France","unit":"celsius"}' },
            { type: "tool-call", id: "toolu_01B8r7s6t5u4v3w2x1y0z9a8", name: "get_time", arguments: '{"timezone":"Europe/Paris"}' },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool-result", toolCallId: "toolu_01A09q90qw90lq917835lq9", content: [{ type: "text", text: '{"temperature":18,"sky":"clear"}' }] },
            { type: "tool-result", toolCallId: "toolu_01B8r7s6t5u4v3w2x1y0z9a8", content: [{ type: "text", text: "clock unavailable" }], isError: true },
          ],
        },
        { role: "assistant", content: [{ type: "text", text: "Paris: 18 °C and clear. I could not read the time." }] },
        { role: "user", content: [{ type: "text", text: "Thanks! What should I pack?" }] },
      ],
      tools: [
        {
          name: "get_weather",
          description: "Current weather for a location.",
          parameters: {
            type: "object",
            properties: { location: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
            required: ["location"],
          },
        },
        { name: "get_time", parameters: { type: "object", properties: { timezone: { type: "string" } } } },
      ],
      toolChoice: { type: "auto" },
      parallelToolCalls: false,
      maxTokens: 2048,
      temperature: 1,
      topP: 0.99,
      stop: ["###"],
      stream: true,
      user: "user-7f3a",
      // a thinking budget of 1024 reads as the smallest effort, for another dialect's upstream
      reasoningEffort: "minimal",
      // no IR meaning: kept for an upstream of this dialect
      extra: {
        top_k: 40,
        thinking: { type: "enabled", budget_tokens: 1024 },
        tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 3 }],
      },
    });
  });

  it("encodes it back to the same body, but for what the IR does not carry or says one way", () => {
    const expected = structuredClone(body);
    expected.messages[2].content[1].content = "clock unavailable"; // one text block is sent as a string
    expect(encodeRequest(decoded(body))).toStrictEqual(expected);
  });
});

describe("anthropic: what a rewritten request keeps", () => {
  const body = (content: unknown[], extra: Record<string, unknown> = {}) => ({ model: "c", max_tokens: 10, messages: [{ role: "user", content }], ...extra });

  it("cache breakpoints on every kind of block, tool and system block come back where they were", () => {
    const mark = { type: "ephemeral", ttl: "1h" };
    const wire = body([
      { type: "text", text: "first", cache_control: mark },
      { type: "image", source: { type: "url", url: "https://example.com/a.png" }, cache_control: mark },
      { type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "out", cache_control: mark }] },
      { type: "tool_result", tool_use_id: "t2", content: "plain", cache_control: mark },
      { type: "text", text: "last" },
    ], {
      system: [{ type: "text", text: "sys", cache_control: mark }],
      tools: [{ name: "f", input_schema: { type: "object" }, cache_control: mark }],
    });
    const ir = decoded(wire);
    expect(ir.untranslated).toBeUndefined();
    const again = encodeRequest(ir);
    expect(again.system).toEqual([{ type: "text", text: "sys", cache_control: mark }]);
    expect(again.tools).toEqual([{ name: "f", input_schema: { type: "object" }, cache_control: mark }]);
    expect((again.messages as Array<{ content: unknown }>)[0]!.content).toEqual(wire.messages[0]!.content);
    // A lone text block with a breakpoint stays a block (a string cannot carry it).
    const lone = encodeRequest(decoded(body([{ type: "text", text: "only", cache_control: mark }])));
    expect((lone.messages as Array<{ content: unknown }>)[0]!.content).toEqual([{ type: "text", text: "only", cache_control: mark }]);
    // An assistant turn's breakpoint too.
    const turns = { model: "c", max_tokens: 10, messages: [
      { role: "user", content: "q" },
      { role: "assistant", content: [{ type: "text", text: "a", cache_control: mark }] },
      { role: "user", content: "q2" },
    ] };
    expect((encodeRequest(decoded(turns)).messages as Array<{ content: unknown }>)[1]!.content).toEqual([{ type: "text", text: "a", cache_control: mark }]);
  });

  it("blocks the IR cannot carry are named in `untranslated`", () => {
    const ir = decoded(body([
      { type: "document", source: { type: "text", media_type: "text/plain", data: "x" } },
      { type: "text", text: "sum up", citations: [] },
    ]));
    expect(ir.untranslated).toEqual(["citations", "document"]);
    const search = decoded({ model: "c", max_tokens: 10, messages: [
      { role: "user", content: "find it" },
      { role: "assistant", content: [{ type: "server_tool_use", id: "s", name: "web_search", input: {} }, { type: "web_search_tool_result", tool_use_id: "s", content: [] }] },
      { role: "user", content: "thanks" },
    ] });
    expect(search.untranslated).toEqual(["server_tool_use", "web_search_tool_result"]);
  });
});

describe("anthropic encodeRequest: IR from other dialects", () => {
  const base = (): Request => ({ ...emptyRequest("claude-x"), messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] });

  it("always sends max_tokens, 4096 when the IR has no limit", () => {
    expect(encodeRequest(base()).max_tokens).toBe(4096);
    expect(encodeRequest({ ...base(), maxTokens: 77 }).max_tokens).toBe(77);
  });

  it("parses tool-call arguments into input, and sends {} for arguments that are not a JSON object", () => {
    const ir = base();
    ir.messages.push({ role: "assistant", content: [
      { type: "tool-call", id: "call_1", name: "f", arguments: '{"a": [1, "x"]}' },
      { type: "tool-call", id: "call_2", name: "g", arguments: '{"cut off' },
      { type: "tool-call", id: "call_3", name: "h", arguments: "" },
    ] });
    expect((encodeRequest(ir).messages as Array<{ content: unknown }>)[1]!.content).toStrictEqual([
      { type: "tool_use", id: "call_1", name: "f", input: { a: [1, "x"] } },
      { type: "tool_use", id: "call_2", name: "g", input: {} },
      { type: "tool_use", id: "call_3", name: "h", input: {} },
    ]);
  });

  it("turns tool messages into one user turn of tool_result blocks, merged with the user turn after them", () => {
    const ir = base();
    ir.messages.push(
      { role: "assistant", content: [{ type: "text", text: "" }, { type: "tool-call", id: "c1", name: "f", arguments: "{}" }, { type: "tool-call", id: "c2", name: "f", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", content: [{ type: "text", text: "one" }] }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "c2", content: [] }] },
      { role: "user", content: [{ type: "text", text: "and?" }] },
    );
    expect((encodeRequest(ir).messages as unknown[]).slice(1)).toStrictEqual([
      { role: "assistant", content: [{ type: "tool_use", id: "c1", name: "f", input: {} }, { type: "tool_use", id: "c2", name: "f", input: {} }] },
      { role: "user", content: [
        { type: "tool_result", tool_use_id: "c1", content: "one" },
        { type: "tool_result", tool_use_id: "c2" },
        { type: "text", text: "and?" },
      ] },
    ]);
  });

  it("drops unsigned reasoning toward Anthropic but keeps signed and redacted thinking byte for byte", () => {
    const ir = base();
    ir.messages.push({ role: "assistant", content: [
      { type: "reasoning", text: "from deepseek" },
      { type: "reasoning", text: "mine", signature: SIGNATURE },
      { type: "reasoning", text: "", redacted: REDACTED },
      { type: "text", text: "ok" },
    ] });
    expect((encodeRequest(ir).messages as unknown[])[1]).toStrictEqual({ role: "assistant", content: [
      { type: "thinking", thinking: "mine", signature: SIGNATURE },
      { type: "redacted_thinking", data: REDACTED },
      { type: "text", text: "ok" },
    ] });
  });

  it("maps tool choice, parallel calls, stop, user, images and response_format (structured outputs); drops seed", () => {
    const ir: Request = {
      ...base(), toolChoice: { type: "required" }, parallelToolCalls: false, stop: ["END"], user: "u1", seed: 7,
      responseFormat: { type: "json" }, tools: [{ name: "f", parameters: { properties: {} }, strict: true }],
    };
    ir.messages[0]!.content.push({ type: "image", source: { kind: "base64", mediaType: "image/jpeg", data: "AAAA" }, detail: "low" });
    expect(encodeRequest(ir)).toStrictEqual({
      model: "claude-x", max_tokens: 4096,
      messages: [{ role: "user", content: [{ type: "text", text: "hi" }, { type: "image", source: { type: "base64", media_type: "image/jpeg", data: "AAAA" } }] }],
      tools: [{ name: "f", input_schema: { type: "object", properties: {} }, strict: true }],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
      stop_sequences: ["END"], metadata: { user_id: "u1" },
      output_config: { format: { type: "json_schema", schema: { type: "object" } } },
    });
    expect(encodeRequest({ ...ir, toolChoice: { type: "tool", name: "f" }, parallelToolCalls: undefined }).tool_choice).toStrictEqual({ type: "tool", name: "f" });
    expect(encodeRequest({ ...ir, toolChoice: undefined }).tool_choice).toStrictEqual({ type: "auto", disable_parallel_tool_use: true });
    expect(encodeRequest({ ...ir, toolChoice: { type: "none" } }).tool_choice).toStrictEqual({ type: "none" });
  });

  it("turns a reasoning effort into a thinking budget under max_tokens, dropping temperature", () => {
    expect(encodeRequest({ ...base(), reasoningEffort: "high", temperature: 0.2 })).toMatchObject({ max_tokens: 4096 + 24576, thinking: { type: "enabled", budget_tokens: 24576 } });
    expect(encodeRequest({ ...base(), reasoningEffort: "high", temperature: 0.2 })).not.toHaveProperty("temperature");
    expect(encodeRequest({ ...base(), reasoningEffort: "high", maxTokens: 5000 })).toMatchObject({ max_tokens: 5000, thinking: { budget_tokens: 4999 } });
    expect(encodeRequest({ ...base(), reasoningEffort: "low", maxTokens: 1000 })).not.toHaveProperty("thinking");
    expect(encodeRequest({ ...base(), reasoningEffort: "low", toolChoice: { type: "required" } })).not.toHaveProperty("thinking");
  });

  it("IR → encode → decode gives the IR back", () => {
    const ir: Request = {
      ...base(),
      system: [{ type: "text", text: "be brief" }],
      messages: [
        { role: "user", content: [{ type: "text", text: "a" }, { type: "image", source: { kind: "url", url: "https://x.test/i.png" } }] },
        { role: "assistant", content: [{ type: "reasoning", text: "t", signature: "sig/+=" }, { type: "tool-call", id: "t1", name: "f", arguments: '{"q":"é \\"x\\""}' }] },
        { role: "user", content: [{ type: "tool-result", toolCallId: "t1", content: [{ type: "text", text: "r" }, { type: "image", source: { kind: "base64", mediaType: "image/gif", data: "R0lG" } }], isError: false }] },
      ],
      tools: [{ name: "f", description: "d", parameters: { type: "object", properties: { q: { type: "string" } } } }],
      toolChoice: { type: "tool", name: "f" }, maxTokens: 300, temperature: 0.5, topP: 0.9, stop: ["x"], stream: true, user: "u",
    };
    expect(decodeRequest(encodeRequest(ir))).toStrictEqual(ir);
  });
});

describe("anthropic decodeRequest: invalid bodies name the field", () => {
  const cases: Array<[string, string, unknown]> = [
    ["missing max_tokens (Anthropic requires it)", "max_tokens", { model: "m", messages: [user("hi")] }],
    ["max_tokens zero", "max_tokens", minimal({ max_tokens: 0 })],
    ["missing model", "model", { max_tokens: 1, messages: [user("hi")] }],
    ["messages missing", "messages", { model: "m", max_tokens: 1 }],
    ["empty messages", "messages", minimal({ messages: [] })],
    ["system role in messages", "messages[0].role", minimal({ messages: [{ role: "system", content: "x" }] })],
    ["content a number", "messages[0].content", minimal({ messages: [user(5)] })],
    ["text block without text", "messages[0].content[0].text", minimal({ messages: [user([{ type: "text" }])] })],
    ["image without source", "messages[0].content[0].source", minimal({ messages: [user([{ type: "image" }])] })],
    ["base64 image without data", "messages[0].content[0].source.data", minimal({ messages: [user([{ type: "image", source: { type: "base64", media_type: "image/png" } }])] })],
    ["image source of an unknown type", "messages[0].content[0].source.type", minimal({ messages: [user([{ type: "image", source: { type: "file", file_id: "f" } }])] })],
    ["tool_use without input", "messages[0].content[0].input", minimal({ messages: [{ role: "assistant", content: [{ type: "tool_use", id: "t", name: "f" }] }] })],
    ["tool_use input not an object", "messages[0].content[0].input", minimal({ messages: [{ role: "assistant", content: [{ type: "tool_use", id: "t", name: "f", input: "{}" }] }] })],
    ["tool_result without tool_use_id", "messages[0].content[0].tool_use_id", minimal({ messages: [user([{ type: "tool_result", content: "x" }])] })],
    ["tool_result with a document", "messages[0].content[0].content[0].type", minimal({ messages: [user([{ type: "tool_result", tool_use_id: "t", content: [{ type: "document" }] }])] })],
    ["thinking without its text", "messages[0].content[0].thinking", minimal({ messages: [{ role: "assistant", content: [{ type: "thinking", signature: "s" }] }] })],
    ["redacted_thinking without data", "messages[0].content[0].data", minimal({ messages: [{ role: "assistant", content: [{ type: "redacted_thinking" }] }] })],
    ["tool without input_schema", "tools[0].input_schema", minimal({ tools: [{ name: "f" }] })],
    ["tool_choice tool without name", "tool_choice.name", minimal({ tool_choice: { type: "tool" } })],
    ["tool_choice of an unknown type", "tool_choice.type", minimal({ tool_choice: { type: "required" } })],
    ["system a number", "system", minimal({ system: 3 })],
    ["stop_sequences a string", "stop_sequences", minimal({ stop_sequences: "###" })],
    ["temperature a string", "temperature", minimal({ temperature: "0.2" })],
  ];

  it.each(cases)("%s → param %s", (_name, param, body) => {
    const error = rejected(body);
    expect(error.param).toBe(param);
    expect(error.message).toContain(`'${param}`);
  });

  it("says what is missing", () => {
    expect(rejected({ model: "m", messages: [user("hi")] }).message).toBe("Missing required parameter: 'max_tokens'.");
  });

  it.each([null, [], "hello", 3])("rejects a body that is not an object (%j) without a param", (body) => {
    expect(rejected(body).param).toBeUndefined();
  });

  it("leaves out block types the IR cannot carry instead of rejecting them", () => {
    const ir = decoded(minimal({ messages: [user([{ type: "document", source: { type: "text", data: "x" } }, { type: "text", text: "sum up" }])] }));
    expect(ir.messages[0]!.content).toStrictEqual([{ type: "text", text: "sum up" }]);
  });
});
