import { describe, expect, test } from "vitest";
import type { Message, Request } from "../../core/ir.ts";
import { TERSE_INSTRUCTION, conversationPoint, terseArm, withTerseInstruction } from "../../core/pipeline/terse.ts";
import { parseConfig } from "../../core/config/load.ts";
import type { RouteConfig } from "../../schemas/config.ts";

// Terse mode's arm: decided by the header, else by the route and a hash of the conversation's
// first user message, so a conversation never changes arm between turns and a replay agrees.

const user = (text: string): Message => ({ role: "user", content: [{ type: "text", text }] });
const assistant = (text: string): Message => ({ role: "assistant", content: [{ type: "text", text }] });
const request = (messages: Message[], system = "You are helpful."): Request =>
  ({ model: "m", system: system ? [{ type: "text", text: system }] : [], messages, tools: [], stream: false, extra: {} });
const route = (terse: RouteConfig["terse"]): RouteConfig => ({ name: "r", targets: ["p/m"], affinity: false, ...(terse !== undefined ? { terse } : {}) });
const conversation = (i: number) => request([user(`conversation ${i}: fix the failing test in src/module-${i}.ts`)]);

describe("terseArm", () => {
  test("off without a route setting or header; the route's terse: true puts every request in the terse arm", () => {
    expect(terseArm(undefined, null, conversation(1))).toBeUndefined();
    expect(terseArm(route(false), null, conversation(1))).toBeUndefined();
    for (let i = 0; i < 50; i++) expect(terseArm(route(true), null, conversation(i))).toBe("terse");
  });

  test("the header: on works where the route does not ask, off wins where it does, anything else is not a choice", () => {
    // Asked for by the header: "forced", which the measurement leaves out (it chose itself).
    expect(terseArm(undefined, "on", conversation(1))).toBe("forced");
    expect(terseArm(route(true), "off", conversation(1))).toBeUndefined();
    expect(terseArm(route({ holdout: 0.5 }), " OFF ", conversation(1))).toBeUndefined();
    expect(terseArm(undefined, "maybe", conversation(1))).toBeUndefined();
    expect(terseArm(route(true), "maybe", conversation(1))).toBe("terse");
    // A control conversation asked for terse by its client gets it.
    const control = Array.from({ length: 50 }, (_, i) => conversation(i)).find((r) => terseArm(route({ holdout: 0.5 }), null, r) === "control")!;
    expect(terseArm(route({ holdout: 0.5 }), "on", control)).toBe("forced");
  });

  test("the holdout splits a fixed set of conversations by exactly the same counts every time, near the share asked", () => {
    const counts = [0.05, 0.1, 0.25, 0.5].map((holdout) => {
      let control = 0;
      for (let i = 0; i < 1000; i++) if (terseArm(route({ holdout }), null, conversation(i)) === "control") control++;
      return control;
    });
    expect(counts).toEqual([44, 89, 245, 503]);
    expect(terseArm(route({ holdout: 0 }), null, conversation(7))).toBe("terse");
  });

  test("every turn of a conversation is in the arm of its first user message, whatever else changes", () => {
    for (let i = 0; i < 40; i++) {
      const first = conversation(i);
      const arm = terseArm(route({ holdout: 0.3 }), null, first);
      const later = request([...first.messages, assistant("done"), user("now the next file"), assistant("ok"), user(`turn ${i}`)], "Another system prompt.");
      expect(terseArm(route({ holdout: 0.3 }), null, later)).toBe(arm);
      expect(conversationPoint(later)).toBe(conversationPoint(first));
    }
  });
});

describe("withTerseInstruction", () => {
  test("appends one system part at the end and leaves messages as they were", () => {
    const before = request([user("hi"), assistant("hello"), user("why?")]);
    const after = withTerseInstruction(before);
    expect(after.system).toEqual([...before.system, { type: "text", text: TERSE_INSTRUCTION }]);
    expect(after.messages).toBe(before.messages);
    expect(withTerseInstruction(request([user("x")], "")).system).toEqual([{ type: "text", text: TERSE_INSTRUCTION }]);
  });

  test("the instruction asks for the things terse replies must keep exact", () => {
    for (const word of ["code", "identifiers", "file paths", "numbers", "error messages", "No preamble", "no restating", "no closing summary"]) {
      expect(TERSE_INSTRUCTION).toContain(word);
    }
  });
});

describe("route config", () => {
  const yaml = (terse: string) => `providers:\n  - { id: p, kind: openai, base_url: "http://127.0.0.1:9/v1", models: [m] }\nroutes:\n  - { name: r, targets: [p/m], terse: ${terse} }\n`;
  test("terse: true, false or { holdout: 0..0.5 }; anything else is refused", () => {
    for (const ok of ["true", "false", "{ holdout: 0 }", "{ holdout: 0.1 }", "{ holdout: 0.5 }"]) expect(parseConfig(yaml(ok), "sluice.yaml", {}).ok, ok).toBe(true);
    for (const bad of ["{ holdout: 0.6 }", "{ holdout: -0.1 }", "{ share: 0.1 }", "yes please"]) expect(parseConfig(yaml(bad), "sluice.yaml", {}).ok, bad).toBe(false);
  });
});
