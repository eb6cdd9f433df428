import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { GatewayError } from "../../../core/errors.ts";
import type { Request } from "../../../core/ir.ts";
import { decodeRequest, encodeRequest } from "../../../core/dialects/gemini/request.ts";
import { invalid, ok } from "../../support/codec.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/gemini/${name}`, import.meta.url), "utf8"));

/** What the server route adds: the model from the URL path, and the stream flag from the action. */
const routed = <T extends Record<string, unknown>>(body: T, stream = false) => ({ ...body, model: "gemini-2.5-flash", stream });

const decoded = (body: unknown): Request => ok(decodeRequest(body));

const rejected = (body: unknown): GatewayError => invalid(decodeRequest(body));

const user = (...parts: unknown[]) => ({ role: "user", parts });
const model = (...parts: unknown[]) => ({ role: "model", parts });
const SIG_CALL = fixture("request.json").contents[1].parts[1].thoughtSignature as string;
const SIG_TEXT = fixture("request.json").contents[3].parts[0].thoughtSignature as string;

describe("gemini decodeRequest: a client body that uses most of the surface", () => {
  const body = fixture("request.json");

  it("maps every field to the IR", () => {
    expect(decodeRequest(routed(body))).toStrictEqual({
      model: "gemini-2.5-flash",
      system: [{ type: "text", text: "You are a terse travel assistant." }, { type: "text", text: "Answer in metric units." }],
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is the weather where this photo was taken, and what time is it there?" },
            { type: "image", source: { kind: "base64", mediaType: "image/png", data: body.contents[0].parts[1].inlineData.data } },
            { type: "image", source: { kind: "url", url: "https://storage.example.com/photos/eiffel.jpg" } },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "reasoning", text: "**Locating the photo**\n\nThat is the Eiffel Tower." },
            // no ids on the wire: call_<n> in order; the signature stays on its call
            { type: "tool-call", id: "call_0", name: "get_weather", arguments: '{"location":"Paris, France","unit":"celsius"}', signature: SIG_CALL },
            { type: "tool-call", id: "call_1", name: "get_time", arguments: '{"timezone":"Europe/Paris"}' },
          ],
        },
        {
          role: "tool",
          content: [
            { type: "tool-result", toolCallId: "call_0", content: [{ type: "text", text: '{"temperature":18,"sky":"clear"}' }] },
            { type: "tool-result", toolCallId: "call_1", content: [{ type: "text", text: "14:05" }] },
          ],
        },
        {
          role: "assistant",
          // a signature on answer text travels as an empty signed reasoning part before it
          content: [{ type: "reasoning", text: "", signature: SIG_TEXT }, { type: "text", text: "Paris: 18 °C and clear, 14:05 local time." }],
        },
        { role: "user", content: [{ type: "text", text: "Thanks! Answer in JSON next time." }] },
      ],
      tools: [
        {
          name: "get_weather",
          description: "Current weather for a city",
          parameters: {
            type: "object",
            properties: {
              location: { type: "string", description: "City and country" },
              unit: { type: ["string", "null"], enum: ["celsius", "fahrenheit"], format: "enum" },
            },
            required: ["location"],
          },
        },
        { name: "get_time", parameters: { type: "object", properties: { timezone: { type: "string" } }, required: ["timezone"] } },
      ],
      toolChoice: { type: "tool", name: "get_weather" },
      maxTokens: 512,
      temperature: 0.2,
      topP: 0.9,
      stop: ["\n\nUser:", "END"],
      seed: 42,
      responseFormat: {
        type: "json-schema",
        name: "response",
        schema: {
          type: "object",
          properties: { answer: { type: "string" }, confidence: { type: "number", format: "float" } },
          required: ["answer"],
          propertyOrdering: ["answer", "confidence"],
        },
      },
      reasoningEffort: "low",
      stream: false,
      extra: {
        safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_ONLY_HIGH" }],
        tools: [{ googleSearch: {} }],
        generationConfig: { topK: 40, thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
      },
    } satisfies Request);
  });

  it("encodes back to the same body, schema types in JSON Schema's lower case", () => {
    const expected = structuredClone(body);
    const lower = (s: Record<string, any>) => JSON.parse(JSON.stringify(s).replace(/"type":"([A-Z]+)"/g, (_, t: string) => `"type":"${t.toLowerCase()}"`));
    expected.tools[0].functionDeclarations = lower(expected.tools[0].functionDeclarations);
    expected.generationConfig.responseSchema = lower(expected.generationConfig.responseSchema);
    expect(encodeRequest(decoded(routed(body)))).toStrictEqual(expected);
  });

  it("keeps contents byte for byte: signatures, thought parts, id-less calls and responses", () => {
    expect(JSON.stringify(encodeRequest(decoded(routed(body))).contents)).toBe(JSON.stringify(body.contents));
  });

  it("survives decode → encode → decode unchanged", () => {
    const ir = decoded(routed(body, true));
    expect(decoded({ ...encodeRequest(ir), model: ir.model, stream: true })).toStrictEqual(ir);
  });

  it("leaves model and stream out of the encoded body (they go in the URL)", () => {
    const ir = decoded(routed(body, true));
    expect(ir).toMatchObject({ model: "gemini-2.5-flash", stream: true, streamUsage: true });
    const out = encodeRequest(ir);
    expect(out).not.toHaveProperty("model");
    expect(out).not.toHaveProperty("stream");
  });
});

describe("gemini decodeRequest: mappings", () => {
  it("reads snake_case keys as Google's REST examples write them, but not inside user data", () => {
    const ir = decoded(routed({
      system_instruction: { parts: { text: "Be brief." } },
      contents: [
        user({ text: "hi" }, { inline_data: { mime_type: "image/jpeg", data: "AAAA" } }),
        model({ function_call: { name: "lookup", args: { user_id: 7 } } }),
        user({ function_response: { name: "lookup", response: { first_name: "Ana" } } }),
      ],
      tools: [{ function_declarations: [{ name: "lookup", parameters: { type: "OBJECT", properties: { user_id: { type: "INTEGER" } }, required: ["user_id"] } }] }],
      tool_config: { function_calling_config: { mode: "NONE" } },
      generation_config: { max_output_tokens: 64, stop_sequences: ["x"], response_mime_type: "application/json" },
    }));
    expect(ir.system).toStrictEqual([{ type: "text", text: "Be brief." }]);
    expect(ir.messages).toStrictEqual([
      { role: "user", content: [{ type: "text", text: "hi" }, { type: "image", source: { kind: "base64", mediaType: "image/jpeg", data: "AAAA" } }] },
      { role: "assistant", content: [{ type: "tool-call", id: "call_0", name: "lookup", arguments: '{"user_id":7}' }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call_0", content: [{ type: "text", text: '{"first_name":"Ana"}' }] }] },
    ]);
    expect(ir.tools[0]!.parameters).toStrictEqual({ type: "object", properties: { user_id: { type: "integer" } }, required: ["user_id"] });
    expect(ir).toMatchObject({ toolChoice: { type: "none" }, maxTokens: 64, stop: ["x"], responseFormat: { type: "json" } });
  });

  it("links function responses by id when there is one, else by name in call order", () => {
    const ir = decoded(routed({
      contents: [
        user({ text: "two lookups" }),
        model({ functionCall: { id: "fc-a", name: "lookup", args: { n: 1 } } }, { functionCall: { name: "lookup", args: { n: 2 } } }, { functionCall: { name: "other" } }),
        user(
          { functionResponse: { name: "lookup", response: { output: "second" } } },
          { functionResponse: { id: "fc-a", name: "lookup", response: { output: "first" } } },
          { functionResponse: { name: "nobody_called_me", response: { output: "orphan" } } },
        ),
      ],
    }));
    expect(ir.messages[1]!.content.map((p) => (p.type === "tool-call" ? [p.id, p.arguments] : []))).toStrictEqual([
      ["fc-a", '{"n":1}'], ["call_1", '{"n":2}'], ["call_2", "{}"],
    ]);
    // the id-less response takes the first waiting call of its name; an orphan keeps its name as id
    expect(ir.messages[2]!.content.map((p) => (p.type === "tool-result" ? p.toolCallId : ""))).toStrictEqual(["call_1", "fc-a", "nobody_called_me"]);
  });

  it("reads {output}, {error} and other responses, and writes each back as it came", () => {
    const responses = [{ output: "14:05" }, { error: "city not found" }, { error: { code: 404 } }, { temperature: 18 }, { output: { nested: true } }];
    const body = routed({
      contents: [
        user({ text: "go" }),
        model(...responses.map(() => ({ functionCall: { name: "f", args: {} } }))),
        user(...responses.map((response) => ({ functionResponse: { name: "f", response } }))),
      ],
    });
    const ir = decoded(body);
    expect(ir.messages[2]!.content).toStrictEqual([
      { type: "tool-result", toolCallId: "call_0", content: [{ type: "text", text: "14:05" }] },
      { type: "tool-result", toolCallId: "call_1", content: [{ type: "text", text: "city not found" }], isError: true },
      { type: "tool-result", toolCallId: "call_2", content: [{ type: "text", text: '{"code":404}' }], isError: true },
      { type: "tool-result", toolCallId: "call_3", content: [{ type: "text", text: '{"temperature":18}' }] },
      { type: "tool-result", toolCallId: "call_4", content: [{ type: "text", text: '{"output":{"nested":true}}' }] },
    ]);
    expect((encodeRequest(ir).contents as Array<{ parts: unknown }>)[2]!.parts).toStrictEqual(body.contents[2]!.parts);
  });

  it.each<[unknown, Request["toolChoice"], boolean]>([
    [{ functionCallingConfig: { mode: "AUTO" } }, { type: "auto" }, false],
    [{ functionCallingConfig: { mode: "NONE" } }, { type: "none" }, false],
    [{ functionCallingConfig: { mode: "ANY" } }, { type: "required" }, false],
    [{ functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["a"] } }, { type: "tool", name: "a" }, false],
    // what the IR cannot say is kept for a Gemini upstream
    [{ functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["a", "b"] } }, { type: "required" }, true],
    [{ functionCallingConfig: { mode: "VALIDATED" } }, undefined, true],
  ])("toolConfig %j → %j", (toolConfig, choice, kept) => {
    const ir = decoded(routed({ contents: [user({ text: "hi" })], toolConfig }));
    expect(ir.toolChoice).toStrictEqual(choice);
    expect("toolConfig" in ir.extra).toBe(kept);
    expect(encodeRequest(ir).toolConfig).toStrictEqual(toolConfig);
  });

  it.each<[Record<string, unknown>, Request["reasoningEffort"]]>([
    [{ thinkingLevel: "high" }, "high"],
    [{ thinkingLevel: "LOW" }, "low"],
    [{ thinkingBudget: 0 }, undefined],
    [{ thinkingBudget: -1 }, undefined],
    [{ thinkingBudget: 128 }, "minimal"],
    [{ thinkingBudget: 1024 }, "low"],
    [{ thinkingBudget: 4096 }, "medium"],
    [{ thinkingBudget: 32768 }, "high"],
  ])("thinkingConfig %j → reasoningEffort %s, and goes back unchanged", (thinkingConfig, effort) => {
    const ir = decoded(routed({ contents: [user({ text: "hi" })], generationConfig: { thinkingConfig } }));
    expect(ir.reasoningEffort).toBe(effort);
    expect(encodeRequest(ir).generationConfig).toStrictEqual({ thinkingConfig });
  });

  it("reads responseJsonSchema as it is, and text/plain as a text format", () => {
    const schema = { type: "object", properties: { a: { type: "string" } }, additionalProperties: false };
    expect(decoded(routed({ contents: [user({ text: "hi" })], generationConfig: { responseMimeType: "application/json", responseJsonSchema: schema } })).responseFormat)
      .toStrictEqual({ type: "json-schema", name: "response", schema });
    expect(decoded(routed({ contents: [user({ text: "hi" })], generationConfig: { responseMimeType: "text/plain" } })).responseFormat).toStrictEqual({ type: "text" });
    const enumIr = decoded(routed({ contents: [user({ text: "hi" })], generationConfig: { responseMimeType: "text/x.enum", responseSchema: { type: "STRING", enum: ["a"] } } }));
    expect(enumIr.responseFormat).toBeUndefined();
    expect(enumIr.extra.generationConfig).toStrictEqual({ responseMimeType: "text/x.enum", responseSchema: { type: "STRING", enum: ["a"] } });
  });

  it("takes a missing role as user, role function as tool results, and drops code-execution parts", () => {
    const ir = decoded(routed({
      contents: [
        { parts: [{ text: "hi" }] },
        model({ functionCall: { name: "f" } }, { executableCode: { language: "PYTHON", code: "print(1)" } }),
        { role: "function", parts: [{ functionResponse: { name: "f", response: { output: "ok" } } }] },
      ],
    }));
    expect(ir.messages).toStrictEqual([
      { role: "user", content: [{ type: "text", text: "hi" }] },
      { role: "assistant", content: [{ type: "tool-call", id: "call_0", name: "f", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call_0", content: [{ type: "text", text: "ok" }] }] },
    ]);
    // named, so nothing rewrites the request (a rewrite would lose them)
    expect(ir.untranslated).toEqual(["executableCode"]);
    expect(decoded(routed({ contents: [user({ text: "hi" })] })).untranslated).toBeUndefined();
  });
});

describe("gemini encodeRequest: an IR from another dialect", () => {
  const ir: Request = {
    model: "gemini-3-pro-preview",
    system: [{ type: "text", text: "Be brief." }],
    messages: [
      { role: "user", content: [{ type: "text", text: "weather and time?" }, { type: "image", source: { kind: "url", url: "https://x.test/a.png?s=1" } }] },
      { role: "assistant", content: [
        { type: "reasoning", text: "signed by someone else", signature: "foreign" },
        { type: "tool-call", id: "toolu_01A", name: "get_weather", arguments: '{"city":"Paris"}' },
        { type: "tool-call", id: "toolu_01B", name: "get_time", arguments: "not json" },
      ] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "toolu_01A", content: [{ type: "text", text: "sunny" }] }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "toolu_01B", content: [{ type: "text", text: "boom" }], isError: true }] },
      { role: "user", content: [{ type: "text", text: "thanks" }] },
    ],
    tools: [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false }, strict: true },
      { name: "get_time", parameters: { type: "object", properties: {} } }],
    toolChoice: { type: "required" },
    parallelToolCalls: false,
    responseFormat: { type: "json-schema", name: "answer", schema: { type: "object", properties: { a: { type: ["string", "null"] } }, additionalProperties: false }, strict: true },
    reasoningEffort: "medium",
    stream: true,
    user: "u-1",
    extra: {},
  };

  it("writes a Gemini body: results grouped by turn, names found, first call signed for Gemini 3", () => {
    expect(encodeRequest(ir)).toStrictEqual({
      systemInstruction: { parts: [{ text: "Be brief." }] },
      contents: [
        { role: "user", parts: [{ text: "weather and time?" }, { fileData: { mimeType: "image/png", fileUri: "https://x.test/a.png?s=1" } }] },
        { role: "model", parts: [
          { text: "signed by someone else", thought: true, thoughtSignature: "foreign" },
          { functionCall: { name: "get_weather", args: { city: "Paris" }, id: "toolu_01A" }, thoughtSignature: "skip_thought_signature_validator" },
          { functionCall: { name: "get_time", args: {}, id: "toolu_01B" } },
        ] },
        { role: "user", parts: [
          { functionResponse: { name: "get_weather", response: { output: "sunny" }, id: "toolu_01A" } },
          { functionResponse: { name: "get_time", response: { error: "boom" }, id: "toolu_01B" } },
          { text: "thanks" },
        ] },
      ],
      tools: [{ functionDeclarations: [
        { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
        { name: "get_time" }, // an object with no properties is rejected by Gemini: no parameters at all
      ] }],
      toolConfig: { functionCallingConfig: { mode: "ANY" } },
      generationConfig: {
        responseMimeType: "application/json",
        responseSchema: { type: "object", properties: { a: { type: "string", nullable: true } } },
        thinkingConfig: { thinkingBudget: 8192, includeThoughts: true },
      },
    });
  });

  it("reads back what it wrote, minus what Gemini cannot say", () => {
    const again = decoded({ ...encodeRequest(ir), model: ir.model, stream: true });
    expect(again.messages[1]!.content[1]).toStrictEqual({ type: "tool-call", id: "toolu_01A", name: "get_weather", arguments: '{"city":"Paris"}' });
    expect(again).toMatchObject({ toolChoice: { type: "required" }, reasoningEffort: "medium", stream: true });
    expect(again).not.toHaveProperty("parallelToolCalls");
    expect(again).not.toHaveProperty("user");
  });

  it("omits the ids it made up itself", () => {
    const calls = decoded(routed({ contents: [user({ text: "x" }), model({ functionCall: { name: "f" } }), user({ functionResponse: { name: "f", response: {} } })] }));
    const contents = encodeRequest(calls).contents as Array<{ parts: Array<Record<string, any>> }>;
    expect(contents[1]!.parts[0]!.functionCall).toStrictEqual({ name: "f", args: {} });
    expect(contents[2]!.parts[0]!.functionResponse).toStrictEqual({ name: "f", response: {} });
  });
});

describe("gemini decodeRequest: invalid bodies name the field", () => {
  const ok = { model: "m", contents: [user({ text: "hi" })] };
  const cases: Array<[string, string, unknown]> = [
    ["contents missing", "contents", { model: "m" }],
    ["contents empty", "contents", { model: "m", contents: [] }],
    ["contents not an array", "contents", { model: "m", contents: "hi" }],
    ["parts missing", "contents[0].parts", { model: "m", contents: [{ role: "user" }] }],
    ["parts a string", "contents[1].parts", { model: "m", contents: [user({ text: "a" }), { role: "model", parts: "b" }] }],
    ["unknown role", "contents[0].role", { model: "m", contents: [{ role: "assistant", parts: [{ text: "a" }] }] }],
    ["text a number", "contents[0].parts[0].text", { model: "m", contents: [user({ text: 5 })] }],
    ["inlineData without data", "contents[0].parts[0].inlineData.data", { model: "m", contents: [user({ inlineData: { mimeType: "image/png" } })] }],
    ["functionCall without name", "contents[1].parts[0].functionCall.name", { model: "m", contents: [user({ text: "a" }), model({ functionCall: { args: {} } })] }],
    ["a part of no known kind", "contents[0].parts[1]", { model: "m", contents: [user({ text: "a" }, { audio: "x" })] }],
    ["a function call in a user turn", "contents[0].parts[0].functionCall", { model: "m", contents: [user({ functionCall: { name: "f" } })] }],
    ["a function response in a model turn", "contents[1].parts[0].functionResponse", { model: "m", contents: [user({ text: "a" }), model({ functionResponse: { name: "f", response: {} } })] }],
    ["a system instruction with an image", "systemInstruction.parts[0]", { ...ok, systemInstruction: { parts: [{ inlineData: { mimeType: "image/png", data: "A" } }] } }],
    ["temperature a string", "generationConfig.temperature", { ...ok, generationConfig: { temperature: "0.2" } }],
    ["maxOutputTokens not an integer", "generationConfig.maxOutputTokens", { ...ok, generationConfig: { maxOutputTokens: 1.5 } }],
    ["unknown calling mode", "toolConfig.functionCallingConfig.mode", { ...ok, toolConfig: { functionCallingConfig: { mode: "SOMETIMES" } } }],
    ["a declaration without name", "tools[0].functionDeclarations[0].name", { ...ok, tools: [{ functionDeclarations: [{ description: "x" }] }] }],
  ];

  it.each(cases)("%s → param %s", (_, param, body) => {
    expect(rejected(body).param).toBe(param);
  });

  it("words the messages for people", () => {
    expect(rejected({ model: "m", contents: [{ role: "user" }] }).message).toBe("Missing required parameter: 'contents[0].parts'.");
    expect(rejected({ model: "m", contents: [{ role: "bot", parts: [] }] }).message)
      .toBe(`Invalid value for 'contents[0].role': expected "user", "model" or "function", but got "bot" instead.`);
    expect(rejected({ model: "m", contents: [user({ audio: "x" })] }).message)
      .toBe("Invalid part at 'contents[0].parts[0]': expected one of text, inlineData, fileData, functionCall or functionResponse (it has 'audio').");
    expect(rejected("hello").message).toBe("The request body must be a JSON object with 'contents'.");
  });
});
