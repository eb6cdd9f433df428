import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { GatewayError } from "../../../core/errors.ts";
import type { Request } from "../../../core/ir.ts";
import { decodeRequest, encodeRequest } from "../../../core/dialects/openai-chat/request.ts";
import { invalid, ok } from "../../support/codec.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/openai-chat/${name}`, import.meta.url), "utf8"));

const decoded = (body: unknown): Request => ok(decodeRequest(body));

const rejected = (body: unknown): GatewayError => invalid(decodeRequest(body));

const user = (content: unknown) => ({ role: "user", content });

describe("openai-chat decodeRequest: a client body that uses most of the surface", () => {
  const body = fixture("request.json");

  it("maps every field to the IR", () => {
    expect(decodeRequest(body)).toStrictEqual({
      model: "gpt-4o",
      system: [{ type: "text", text: "You are a terse travel assistant." }],
      messages: [
        {
          role: "user",
          name: "ana",
          content: [
            { type: "text", text: "What is the weather where this photo was taken, and what time is it there?" },
            { type: "image", source: { kind: "url", url: "https://example.com/eiffel.jpg" }, detail: "high" },
            {
              type: "image",
              source: {
                kind: "base64",
                mediaType: "image/png",
                data: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
              },
            },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "tool-call", id: "call_Xa1Sb2Dc3Fd4Ge5Hf6Ig7Jh8", name: "get_weather", arguments: '{"location":"Paris, France","unit":"celsius"}' },
            // the arguments' own spacing is kept: they are never re-serialised
            { type: "tool-call", id: "call_Ki9Lj0Mk1Nl2Om3Pn4Qo5Rp6", name: "get_time", arguments: '{"timezone": "Europe/Paris"}' },
          ],
        },
        { role: "tool", content: [{ type: "tool-result", toolCallId: "call_Xa1Sb2Dc3Fd4Ge5Hf6Ig7Jh8", content: [{ type: "text", text: '{"temperature":18,"sky":"clear"}' }] }] },
        { role: "tool", content: [{ type: "tool-result", toolCallId: "call_Ki9Lj0Mk1Nl2Om3Pn4Qo5Rp6", content: [{ type: "text", text: "14:05" }] }] },
        { role: "assistant", content: [{ type: "text", text: "Paris: 18 °C and clear, 14:05 local time." }] },
        { role: "user", content: [{ type: "text", text: "Thanks! Answer in JSON next time." }] },
      ],
      tools: [
        {
          name: "get_weather",
          description: "Current weather for a city",
          parameters: body.tools[0].function.parameters,
          strict: true,
        },
        { name: "get_time", parameters: body.tools[1].function.parameters },
      ],
      toolChoice: { type: "auto" },
      parallelToolCalls: true,
      responseFormat: { type: "json-schema", name: "answer", schema: body.response_format.json_schema.schema, strict: true },
      maxTokens: 512,
      temperature: 0.2,
      topP: 0.9,
      stop: ["\n\nUser:", "END"],
      seed: 42,
      reasoningEffort: "low",
      stream: true,
      streamUsage: true,
      user: "user-1234",
      extra: { logit_bias: { "50256": -100 }, metadata: { team: "travel" }, store: false },
    } satisfies Request);
  });

  it("encodes back to the same body, but developer → system", () => {
    const expected = structuredClone(body);
    expected.messages[0].role = "system";
    expect(encodeRequest(decoded(body))).toStrictEqual(expected);
  });

  it("survives decode → encode → decode unchanged", () => {
    const ir = decoded(body);
    expect(decoded(encodeRequest(ir))).toStrictEqual(ir);
  });
});

describe("openai-chat decodeRequest: mappings", () => {
  it("hoists system and developer messages from anywhere into system, in order", () => {
    const ir = decoded({
      model: "m",
      messages: [
        { role: "system", content: "Be brief." },
        user("hi"),
        { role: "developer", content: [{ type: "text", text: "Now answer in French." }, { type: "text", text: "Use tu." }] },
        user("ok"),
      ],
    });
    expect(ir.system).toStrictEqual([
      { type: "text", text: "Be brief." },
      { type: "text", text: "Now answer in French." },
      { type: "text", text: "Use tu." },
    ]);
    expect(ir.messages.map((m) => m.role)).toStrictEqual(["user", "user"]);
    expect((encodeRequest(ir).messages as unknown[]).slice(0, 3)).toStrictEqual([
      { role: "system", content: "Be brief." },
      { role: "system", content: "Now answer in French." },
      { role: "system", content: "Use tu." },
    ]);
  });

  it("keeps DeepSeek reasoning_content as a reasoning part, and sends it back", () => {
    const assistant = { role: "assistant", content: "9.8 is greater.", reasoning_content: "Compare 0.8 and 0.11." };
    const ir = decoded({ model: "deepseek-reasoner", messages: [user("9.11 or 9.8?"), assistant, user("why?")] });
    expect(ir.messages[1]!.content).toStrictEqual([
      { type: "reasoning", text: "Compare 0.8 and 0.11." },
      { type: "text", text: "9.8 is greater." },
    ]);
    expect((encodeRequest(ir).messages as unknown[])[1]).toStrictEqual(assistant);
  });

  it("drops reasoning signed by another provider when encoding", () => {
    const ir = decoded({ model: "m", messages: [user("hi")] });
    ir.messages.push({ role: "assistant", content: [{ type: "reasoning", text: "hmm", signature: "sig" }, { type: "text", text: "hello" }] });
    expect((encodeRequest(ir).messages as unknown[])[1]).toStrictEqual({ role: "assistant", content: "hello" });
  });

  it("reads stop as a string, tool_choice as a function, json_object and max_completion_tokens", () => {
    const body = {
      model: "o4-mini", messages: [user("hi")], stop: "END", max_completion_tokens: 900, max_tokens: 100,
      tool_choice: { type: "function", function: { name: "get_time" } }, response_format: { type: "json_object" },
    };
    const ir = decoded(body);
    expect(ir).toMatchObject({ stop: ["END"], maxTokens: 900, toolChoice: { type: "tool", name: "get_time" }, responseFormat: { type: "json" } });
    const out = encodeRequest(ir);
    // the client's field name survives: reasoning models reject max_tokens
    expect(out.max_completion_tokens).toBe(900);
    expect(out).not.toHaveProperty("max_tokens");
    expect(out.tool_choice).toStrictEqual({ type: "function", function: { name: "get_time" } });
    expect(out.response_format).toStrictEqual({ type: "json_object" });
    expect(out.stop).toStrictEqual(["END"]);
  });

  it("writes max_tokens when the client used it", () => {
    const out = encodeRequest(decoded({ model: "m", messages: [user("hi")], max_tokens: 64 }));
    expect(out.max_tokens).toBe(64);
    expect(out).not.toHaveProperty("max_completion_tokens");
  });

  it("keeps reasoning efforts the IR cannot name in extra", () => {
    const ir = decoded({ model: "gpt-5", messages: [user("hi")], reasoning_effort: "xhigh" });
    expect(ir.reasoningEffort).toBeUndefined();
    expect(ir.extra).toStrictEqual({ reasoning_effort: "xhigh" });
    expect(encodeRequest(ir).reasoning_effort).toBe("xhigh");
  });

  it("treats null parameters as absent", () => {
    const ir = decoded({ model: "m", messages: [user("hi")], temperature: null, stop: null, tools: null, stream: null, max_completion_tokens: null });
    expect(ir).toStrictEqual({ model: "m", system: [], messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], tools: [], stream: false, extra: {} });
  });

  it("asks an upstream for stream usage even when the client did not", () => {
    const ir = decoded({ model: "m", messages: [user("hi")], stream: true });
    expect(ir.streamUsage).toBeUndefined();
    expect(encodeRequest(ir)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(encodeRequest(decoded({ model: "m", messages: [user("hi")] }))).not.toHaveProperty("stream");
  });

  it("links legacy function messages to their call by name", () => {
    const ir = decoded({
      model: "m",
      messages: [
        user("time?"),
        { role: "assistant", content: null, function_call: { name: "get_time", arguments: "{}" } },
        { role: "function", name: "get_time", content: "14:05" },
      ],
    });
    expect(ir.messages.slice(1)).toStrictEqual([
      { role: "assistant", content: [{ type: "tool-call", id: "get_time", name: "get_time", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "get_time", content: [{ type: "text", text: "14:05" }] }] },
    ]);
  });

  it("gives a function without parameters the empty object schema", () => {
    const ir = decoded({ model: "m", messages: [user("hi")], tools: [{ type: "function", function: { name: "ping" } }] });
    expect(ir.tools).toStrictEqual([{ name: "ping", parameters: { type: "object", properties: {} } }]);
  });

  it("puts tool results found in a user turn (as other dialects do) into tool messages first", () => {
    const ir = decoded({ model: "m", messages: [user("hi")] });
    ir.messages = [{ role: "user", content: [
      { type: "tool-result", toolCallId: "toolu_1", content: [{ type: "text", text: "42" }], isError: false },
      { type: "text", text: "and now?" },
    ] }];
    expect(encodeRequest(ir).messages).toStrictEqual([
      { role: "tool", tool_call_id: "toolu_1", content: "42" },
      { role: "user", content: "and now?" },
    ]);
  });
});

describe("openai-chat decodeRequest: invalid bodies name the field", () => {
  const cases: Array<[string, string, unknown]> = [
    ["missing model", "model", { messages: [user("hi")] }],
    ["model not a string", "model", { model: 4, messages: [user("hi")] }],
    ["messages not an array", "messages", { model: "m", messages: "hi" }],
    ["messages missing", "messages", { model: "m" }],
    ["empty messages", "messages", { model: "m", messages: [] }],
    ["unknown role", "messages[1].role", { model: "m", messages: [user("hi"), { role: "robot", content: "x" }] }],
    ["message not an object", "messages[1]", { model: "m", messages: [user("hi"), "x"] }],
    ["content a number", "messages[2].content", { model: "m", messages: [user("a"), user("b"), user(7)] }],
    ["text part with a number", "messages[0].content[0].text", { model: "m", messages: [user([{ type: "text", text: 5 }])] }],
    ["user without content", "messages[0].content", { model: "m", messages: [{ role: "user" }] }],
    ["tool without tool_call_id", "messages[1].tool_call_id", { model: "m", messages: [user("hi"), { role: "tool", content: "x" }] }],
    ["unsupported part", "messages[0].content[1].type", { model: "m", messages: [user([{ type: "text", text: "hi" }, { type: "input_audio", input_audio: {} }])] }],
    ["image part without image_url", "messages[0].content[0]", { model: "m", messages: [user([{ type: "image_url" }])] }],
    ["temperature a string", "temperature", { model: "m", messages: [user("hi")], temperature: "0.2" }],
    ["max_tokens not an integer", "max_tokens", { model: "m", messages: [user("hi")], max_tokens: 1.5 }],
    ["stream not a boolean", "stream", { model: "m", messages: [user("hi")], stream: "yes" }],
    ["tool call without function", "messages[0].tool_calls[0].function", { model: "m", messages: [{ role: "assistant", tool_calls: [{ id: "c", type: "function" }] }] }],
    ["non-function tool", "tools[0].type", { model: "m", messages: [user("hi")], tools: [{ type: "custom", custom: { name: "x" } }] }],
    ["bad tool_choice", "tool_choice", { model: "m", messages: [user("hi")], tool_choice: "always" }],
    ["json_schema without its schema object", "response_format.json_schema", { model: "m", messages: [user("hi")], response_format: { type: "json_schema" } }],
  ];

  it.each(cases)("%s → param %s", (_name, param, body) => {
    const error = rejected(body);
    expect(error.param).toBe(param);
    expect(error.message).toContain(`'${param}`);
  });

  it("says what was expected and what came", () => {
    expect(rejected({ model: "m", messages: "hi" }).message).toBe("Invalid type for 'messages': expected an array, but got a string instead.");
    expect(rejected({ messages: [user("hi")] }).message).toBe("Missing required parameter: 'model'.");
    expect(rejected({ model: "m", messages: [{ role: "robot", content: "x" }] }).message)
      .toBe(`Invalid value for 'messages[0].role': expected "system", "developer", "user", "assistant", "tool" or "function", but got "robot" instead.`);
    expect(rejected({ model: "m", messages: [user("hi")], max_tokens: -1 }).message).toBe("Invalid 'max_tokens': expected integer to be greater or equal to 0.");
  });

  it.each([null, [], "hello", 3])("rejects a body that is not an object (%j) without a param", (body) => {
    expect(rejected(body).param).toBeUndefined();
  });
});

describe("system and developer messages after the conversation began", () => {
  it("are hoisted into system, and the request is marked so that nothing rewrites it", () => {
    const r = decoded({ model: "m", messages: [
      { role: "system", content: "a" }, { role: "user", content: "q" }, { role: "developer", content: "b" }, { role: "user", content: "q2" },
    ] });
    expect(r.system.map((p) => p.text)).toEqual(["a", "b"]);
    expect(r.untranslated).toEqual(["system-message-mid-conversation"]);
  });
  it("leading ones are the system prompt: nothing to note", () => {
    const r = decoded({ model: "m", messages: [{ role: "system", content: "a" }, { role: "developer", content: "b" }, { role: "user", content: "q" }] });
    expect(r.untranslated).toBeUndefined();
  });
});
