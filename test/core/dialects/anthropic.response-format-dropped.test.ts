import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { emptyRequest, type Request } from "../../../core/ir.ts";
import { decodeRequest, encodeRequest } from "../../../core/dialects/anthropic/request.ts";
import { invalid, ok } from "../../support/codec.ts";

// Bug: a structured-output request came back as prose. The Anthropic request encoder dropped the
// IR responseFormat ("dropped here, on purpose"), and the decoder left `output_config.format` in
// `extra`, which no other dialect reads. Both now go through Anthropic structured outputs.

const fixture = JSON.parse(readFileSync(new URL("../../fixtures/anthropic/response-format-dropped.request.json", import.meta.url), "utf8"));
const SCHEMA = fixture.output_config.format.schema;

describe("anthropic response format (structured outputs)", () => {
  it("encodes an IR json-schema format as output_config.format", () => {
    const ir: Request = { ...emptyRequest("claude-x"), messages: [{ role: "user", content: [{ type: "text", text: "give json" }] }], responseFormat: { type: "json-schema", name: "weather", schema: SCHEMA, strict: true } };
    expect(encodeRequest(ir).output_config).toEqual({ format: { type: "json_schema", schema: SCHEMA } });
  });

  it("encodes a schema-less json format as the schema of any object, never dropping it", () => {
    const ir: Request = { ...emptyRequest("claude-x"), responseFormat: { type: "json" } };
    expect(encodeRequest(ir).output_config).toEqual({ format: { type: "json_schema", schema: { type: "object" } } });
  });

  it("sends nothing for a text format", () => {
    expect(encodeRequest({ ...emptyRequest("claude-x"), responseFormat: { type: "text" } }).output_config).toBeUndefined();
  });

  it("decodes output_config.format into the IR, keeping the rest of output_config for the same dialect", () => {
    const ir = ok(decodeRequest(fixture));
    expect(ir.responseFormat).toEqual({ type: "json-schema", name: "response", schema: SCHEMA });
    expect(ir.extra.output_config).toEqual({ effort: "low" });
    // Same dialect: the format is merged back over the kept effort.
    expect(encodeRequest(ir).output_config).toEqual(fixture.output_config);
  });

  it("rejects a format it cannot read, naming the field", () => {
    const error = invalid(decodeRequest({ ...fixture, output_config: { format: { type: "xml" } } }));
    expect(error.param).toBe("output_config.format.type");
  });
});

// Bug: an Anthropic client's thinking ({type: "enabled", budget_tokens}) reached no other provider:
// it stayed in `extra` with no IR effort, so a Gemini upstream was never asked to include thoughts.
describe("anthropic thinking budget → reasoning effort", () => {
  const body = (budget: number) => ({ model: "m", max_tokens: 4096, messages: [{ role: "user", content: "think first" }], thinking: { type: "enabled", budget_tokens: budget } });
  it.each([[1024, "minimal"], [2048, "low"], [8192, "medium"], [16000, "high"]] as const)("budget %i is effort %s", (budget, effort) => {
    const ir = ok(decodeRequest(body(budget)));
    expect(ir.reasoningEffort).toBe(effort);
    // The client's exact config still goes to an Anthropic upstream, not one rebuilt from the effort.
    expect(encodeRequest(ir).thinking).toEqual({ type: "enabled", budget_tokens: budget });
  });
  it("disabled thinking sets no effort", () => {
    expect(ok(decodeRequest({ ...body(1024), thinking: { type: "disabled" } })).reasoningEffort).toBeUndefined();
  });
});
