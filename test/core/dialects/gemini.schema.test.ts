import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isGatewayError } from "../../../core/errors.ts";
import { fromGeminiSchema, toGeminiParameters, toGeminiSchema } from "../../../core/dialects/gemini/json-schema.ts";
import { decodeRequest, encodeRequest } from "../../../core/dialects/gemini/request.ts";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/gemini/${name}`, import.meta.url), "utf8"));

/** Every keyword of Gemini's Schema object; anything else in an encoded schema is a 400 from Google. */
const GEMINI_KEYWORDS = new Set([
  "type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems", "properties", "required",
  "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "minimum", "maximum", "anyOf", "propertyOrdering",
  "default", "example",
]);

function keywords(schema: unknown, out = new Set<string>()): Set<string> {
  if (typeof schema !== "object" || schema === null) return out;
  for (const [key, value] of Object.entries(schema)) {
    out.add(key);
    if (key === "properties") for (const child of Object.values(value as object)) keywords(child, out);
    else if (key === "items") keywords(value, out);
    else if (key === "anyOf") for (const child of value as unknown[]) keywords(child, out);
  }
  return out;
}

describe("gemini tool schemas: a JSON Schema written for OpenAI strict mode (tool-schemas.request.json)", () => {
  const decoded = decodeRequest({ ...fixture("tool-schemas.request.json"), model: "m" });
  if (isGatewayError(decoded)) throw new Error(decoded.message);
  const declarations = (encodeRequest(decoded).tools as Array<{ functionDeclarations: Array<Record<string, any>> }>)[0]!.functionDeclarations;
  const person = { type: "object", properties: { name: { type: "string", minLength: 1 }, age: { type: "integer", format: "int32" } }, required: ["name"] };

  it("keeps parametersJsonSchema in the IR as it came", () => {
    expect(decoded.tools[0]!.parameters).toStrictEqual(fixture("tool-schemas.request.json").tools[0].functionDeclarations[0].parametersJsonSchema);
  });

  it("sends only keywords Gemini's Schema knows", () => {
    const used = keywords(declarations[0]!.parameters);
    expect([...used].filter((k) => !GEMINI_KEYWORDS.has(k))).toStrictEqual([]);
  });

  it("rewrites each construct into Gemini's spelling", () => {
    expect(declarations[0]).toStrictEqual({
      name: "book_trip",
      description: "Books a trip (schema written for OpenAI strict mode, then sent to Gemini)",
      parameters: {
        type: "object",
        properties: {
          traveller: person, // $ref inlined from $defs
          companions: { type: "array", items: person, minItems: 0 }, // uniqueItems dropped
          class: { type: "string", enum: ["economy"] }, // const → enum
          seats: { type: "integer", minimum: 1, nullable: true }, // [t, "null"] → nullable; exclusiveMaximum and format uint8 dropped
          depart: { type: "string", format: "date-time" }, // a format Gemini supports stays
          email: { type: "string", pattern: "^.+@.+$" }, // format email does not
          budget: { type: "number", default: null, nullable: true }, // anyOf [t, null] → t, nullable
          reference: { anyOf: [{ type: "string" }, { type: "integer" }] }, // a type union → anyOf
          mode: { anyOf: [ // oneOf → anyOf; `required` keeps only properties that exist
            { type: "string", enum: ["train", "plane"] },
            { type: "object", properties: { other: { type: "string" } }, required: ["other"] },
          ] },
          rating: { type: "integer" }, // a non-string enum is dropped
          coords: { type: "array", items: { type: "number" } }, // a tuple → one items schema
          notes: { type: "object", properties: { text: { type: "string" }, lang: { type: "string" } }, required: ["text"] }, // allOf merged
          tags: { type: "object" }, // additionalProperties and patternProperties dropped
        },
        required: ["traveller", "class", "seats"],
      },
    });
  });

  it("sends a function without parameters with none (Gemini rejects an empty OBJECT)", () => {
    expect(decoded.tools[1]).toStrictEqual({ name: "ping", description: "No arguments", parameters: { type: "object", properties: {} } });
    expect(declarations[1]).toStrictEqual({ name: "ping", description: "No arguments" });
  });
});

describe("gemini schema conversions", () => {
  it("cuts a recursive $ref instead of looping", () => {
    const schema = { type: "object", properties: { next: { $ref: "#/$defs/node" } }, $defs: { node: { type: "object", properties: { value: { type: "string" }, next: { $ref: "#/$defs/node" } } } } };
    expect(toGeminiSchema(schema)).toStrictEqual({
      type: "object",
      properties: { next: { type: "object", properties: { value: { type: "string" }, next: {} } } },
    });
  });

  it("drops a $ref it cannot resolve, and `definitions` works like `$defs`", () => {
    expect(toGeminiSchema({ type: "object", properties: { a: { $ref: "https://example.com/a.json" }, b: { $ref: "#/definitions/b" } }, definitions: { b: { type: "boolean" } } }))
      .toStrictEqual({ type: "object", properties: { a: {}, b: { type: "boolean" } } });
  });

  it("turns an only-null union into Gemini's NULL type and a lone null branch into nullable", () => {
    expect(toGeminiSchema({ type: ["null"] })).toStrictEqual({ type: "null", nullable: true });
    expect(toGeminiSchema({ anyOf: [{ type: "null" }, { type: "string", description: "d" }], description: "outer" }))
      .toStrictEqual({ type: "string", description: "outer", nullable: true });
  });

  it("leaves parameters out when an object has no properties, keeps them otherwise", () => {
    expect(toGeminiParameters({ type: "object", properties: {}, additionalProperties: false })).toBeUndefined();
    expect(toGeminiParameters({ type: "object" })).toBeUndefined();
    expect(toGeminiParameters({ type: "object", properties: { a: { type: "string" } } })).toStrictEqual({ type: "object", properties: { a: { type: "string" } } });
  });

  it("reads a Gemini Schema as JSON Schema, and the two ways agree", () => {
    const gemini = {
      type: "OBJECT",
      properties: { tags: { type: "ARRAY", items: { type: "STRING", nullable: true } }, pick: { anyOf: [{ type: "INTEGER" }, { type: "BOOLEAN" }] } },
      required: ["tags"],
    };
    const json = {
      type: "object",
      properties: { tags: { type: "array", items: { type: ["string", "null"] } }, pick: { anyOf: [{ type: "integer" }, { type: "boolean" }] } },
      required: ["tags"],
    };
    expect(fromGeminiSchema(gemini)).toStrictEqual(json);
    expect(fromGeminiSchema(toGeminiSchema(json))).toStrictEqual(json);
  });
});
