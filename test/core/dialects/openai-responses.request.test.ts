import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Request } from "../../../core/ir.ts";
import { decodeRequest, encodeRequest } from "../../../core/dialects/openai-responses/request.ts";
import { passthroughRequest } from "../../../core/dialects/openai-responses/passthrough.ts";
import { openaiResponses } from "../../../core/dialects/openai-responses/index.ts";
import { invalid, ok } from "../../support/codec.ts";

const raw = readFileSync(new URL("../../fixtures/openai-responses/request.json", import.meta.url), "utf8");
const fixture = () => JSON.parse(raw);
const decoded = (body: unknown): Request => ok(decodeRequest(body));
const rejected = (body: unknown) => invalid(decodeRequest(body));
const ENC = "gAAAAABor0AxH0X9kVl2z8m5Q0qg7i3Q5u8dZ3n0L9yX4w==";
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

describe("openai-responses decodeRequest: a body with mixed items", () => {
  it("maps every field to the IR", () => {
    expect(decodeRequest(fixture())).toStrictEqual({
      model: "gpt-4.1",
      system: [{ type: "text", text: "You are a terse travel assistant." }, { type: "text", text: "Answer in English." }],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is the weather where this photo was taken?" },
            { type: "image", source: { kind: "url", url: "https://example.com/eiffel.jpg" }, detail: "high" },
            { type: "image", source: { kind: "base64", mediaType: "image/png", data: PNG }, detail: "auto" },
          ],
        },
        {
          // reasoning, message and function_call in a row are one assistant turn
          role: "assistant",
          content: [
            { type: "reasoning", text: "Looks like Paris.", signature: ENC },
            { type: "text", text: "Let me check." },
            { type: "tool-call", id: "call_4QhIUAMXbjwjnRJD2LGjMc1N", name: "get_weather", arguments: '{"location":"Paris"}' },
          ],
        },
        {
          role: "tool",
          content: [{ type: "tool-result", toolCallId: "call_4QhIUAMXbjwjnRJD2LGjMc1N", content: [{ type: "text", text: '{"temp_c":21,"sky":"clear"}' }] }],
        },
        // item_reference has no IR meaning: left out
        { role: "user", content: [{ type: "text", text: "And in Fahrenheit?" }] },
      ],
      tools: [{
        name: "get_weather", description: "Weather for a place", strict: true,
        parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
      }],
      toolChoice: { type: "tool", name: "get_weather" },
      parallelToolCalls: false,
      responseFormat: { type: "json-schema", name: "weather", schema: { type: "object", properties: { f: { type: "number" } } }, strict: true },
      maxTokens: 512,
      temperature: 0.2,
      topP: 0.9,
      reasoningEffort: "low",
      stream: true,
      user: "user-1234",
      extra: {
        store: false,
        previous_response_id: "resp_prev",
        include: ["reasoning.encrypted_content"],
        metadata: { trace: "t1" },
        tools: [{ type: "web_search_preview" }],
        text: { verbosity: "low" },
        reasoning: { summary: "auto" },
      },
    });
  });

  it("a string input is one user message; text.format json_object is json", () => {
    expect(decoded({ model: "m", input: "hi", text: { format: { type: "json_object" } } })).toStrictEqual({
      model: "m", system: [], messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], tools: [],
      responseFormat: { type: "json" }, stream: false, extra: {},
    });
  });

  it("keeps tool choices and efforts the IR cannot say in extra", () => {
    const request = decoded({ model: "m", input: "hi", tool_choice: { type: "web_search_preview" }, reasoning: { effort: "xhigh" }, tool_choice_extra: 1 });
    expect(request.toolChoice).toBeUndefined();
    expect(request.reasoningEffort).toBeUndefined();
    expect(request.extra).toStrictEqual({ tool_choice: { type: "web_search_preview" }, reasoning: { effort: "xhigh" }, tool_choice_extra: 1 });
    expect(decoded({ model: "m", input: "hi", tool_choice: "required" }).toolChoice).toStrictEqual({ type: "required" });
  });

  it("a function_call_output with image parts, and a reasoning item with encryption only", () => {
    const request = decoded({
      model: "m",
      input: [
        { type: "reasoning", id: "rs_1", summary: [], encrypted_content: ENC },
        { type: "reasoning", id: "rs_2", summary: [] }, // stored by id only: nothing to carry
        { type: "function_call_output", call_id: "c1", output: [{ type: "input_text", text: "see" }, { type: "input_image", image_url: "https://x/y.png" }] },
      ],
    });
    expect(request.messages).toStrictEqual([
      { role: "assistant", content: [{ type: "reasoning", text: "", signature: ENC }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", content: [{ type: "text", text: "see" }, { type: "image", source: { kind: "url", url: "https://x/y.png" } }] }] },
    ]);
  });
});

describe("openai-responses decodeRequest: invalid bodies name the field", () => {
  const cases: Array<[string, unknown, string]> = [
    ["no model", { input: "hi" }, "model"],
    ["no input", { model: "m" }, "input"],
    ["input of the wrong type", { model: "m", input: 3 }, "input"],
    ["function_call without call_id", { model: "m", input: [{ type: "function_call", name: "f", arguments: "{}" }] }, "input[0].call_id"],
    ["function_call without arguments", { model: "m", input: [{ type: "function_call", call_id: "c", name: "f" }] }, "input[0].arguments"],
    ["function_call_output without output", { model: "m", input: [{ type: "function_call_output", call_id: "c" }] }, "input[0].output"],
    ["message without role", { model: "m", input: [{ type: "message", content: "x" }] }, "input[0].role"],
    ["message with an unknown role", { model: "m", input: ["ok", { role: "tool", content: "x" }].slice(1) }, "input[0].role"],
    ["input_text without text", { model: "m", input: [{ role: "user", content: [{ type: "input_text" }] }] }, "input[0].content[0].text"],
    ["input_image without a url or file", { model: "m", input: [{ role: "user", content: [{ type: "input_image" }] }] }, "input[0].content[0].image_url"],
    ["an image in a developer message", { model: "m", input: [{ role: "developer", content: [{ type: "input_image", image_url: "https://x" }] }] }, "input[0].content[0]"],
    ["function tool without name", { model: "m", input: "hi", tools: [{ type: "function", parameters: {} }] }, "tools[0].name"],
    ["max_output_tokens below 1", { model: "m", input: "hi", max_output_tokens: 0 }, "max_output_tokens"],
    ["temperature a string", { model: "m", input: "hi", temperature: "hot" }, "temperature"],
    ["json_schema without name", { model: "m", input: "hi", text: { format: { type: "json_schema", schema: {} } } }, "text.format.name"],
    ["unknown text format", { model: "m", input: "hi", text: { format: { type: "yaml" } } }, "text.format.type"],
    ["function tool_choice without name", { model: "m", input: "hi", tool_choice: { type: "function" } }, "tool_choice.name"],
  ];
  for (const [name, body, param] of cases) {
    it(name, () => expect(rejected(body).param).toBe(param));
  }

  it("a body that is not an object has no param", () => {
    expect(rejected([1, 2]).param).toBeUndefined();
  });
});

describe("openai-responses encodeRequest", () => {
  it("round trips the fixture through the IR", () => {
    const ir = decoded(fixture());
    // instructions and the developer message become one instructions text
    const again = decoded(encodeRequest(ir));
    expect(again).toStrictEqual({ ...ir, system: [{ type: "text", text: "You are a terse travel assistant.\n\nAnswer in English." }] });
  });

  it("writes the wire shapes", () => {
    const body = encodeRequest(decoded(fixture()));
    expect(body.input).toStrictEqual([
      {
        type: "message", role: "user", content: [
          { type: "input_text", text: "What is the weather where this photo was taken?" },
          { type: "input_image", image_url: "https://example.com/eiffel.jpg", detail: "high" },
          { type: "input_image", image_url: `data:image/png;base64,${PNG}`, detail: "auto" },
        ],
      },
      { type: "reasoning", summary: [{ type: "summary_text", text: "Looks like Paris." }], encrypted_content: ENC },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "Let me check.", annotations: [] }] },
      { type: "function_call", call_id: "call_4QhIUAMXbjwjnRJD2LGjMc1N", name: "get_weather", arguments: '{"location":"Paris"}' },
      { type: "function_call_output", call_id: "call_4QhIUAMXbjwjnRJD2LGjMc1N", output: '{"temp_c":21,"sky":"clear"}' },
      { type: "message", role: "user", content: [{ type: "input_text", text: "And in Fahrenheit?" }] },
    ]);
    expect(body).toMatchObject({
      tools: [{ type: "function", name: "get_weather" }, { type: "web_search_preview" }],
      tool_choice: { type: "function", name: "get_weather" },
      text: { verbosity: "low", format: { type: "json_schema", name: "weather", strict: true } },
      reasoning: { summary: "auto", effort: "low" },
      max_output_tokens: 512, store: false, previous_response_id: "resp_prev",
    });
  });

  it("from another dialect: tool results in a user turn, unsigned reasoning dropped", () => {
    const body = encodeRequest({
      model: "m", system: [], tools: [], stream: false, extra: {},
      messages: [
        { role: "assistant", content: [{ type: "reasoning", text: "thinking" }, { type: "tool-call", id: "t1", name: "f", arguments: "{}" }] },
        { role: "user", content: [{ type: "tool-result", toolCallId: "t1", content: [{ type: "text", text: "42" }] }, { type: "text", text: "thanks" }] },
      ],
    });
    expect(body.input).toStrictEqual([
      { type: "function_call", call_id: "t1", name: "f", arguments: "{}" },
      { type: "function_call_output", call_id: "t1", output: "42" },
      { type: "message", role: "user", content: [{ type: "input_text", text: "thanks" }] },
    ]);
  });
});

describe("openai-responses passthroughRequest", () => {
  it("renames the model and changes no other byte", () => {
    const out = passthroughRequest(raw, "gpt-4.1-mini", { stream: true, clientAskedUsage: false, wantUsage: true });
    expect(out.injectedUsage).toBe(false);
    expect(out.body).toBe(raw.replace('"model": "gpt-4.1"', '"model": "gpt-4.1-mini"'));
    expect(openaiResponses.passthroughRequest(raw, "x", { stream: false, clientAskedUsage: false, wantUsage: false }).body).toContain('"model": "x"');
  });
});

describe("system and developer input items after the conversation began", () => {
  it("are hoisted into system, and the request is marked so that nothing rewrites it", () => {
    const r = decoded({ model: "m", instructions: "i", input: [
      { role: "user", content: "q" }, { role: "developer", content: "b" }, { role: "user", content: "q2" },
    ] });
    expect(r.system.map((p) => p.text)).toEqual(["i", "b"]);
    expect(r.untranslated).toEqual(["system-message-mid-conversation"]);
  });
  it("leading ones are the system prompt: nothing to note", () => {
    expect(decoded({ model: "m", input: [{ role: "system", content: "a" }, { role: "user", content: "q" }] }).untranslated).toBeUndefined();
  });
});
