import { describe, expect, test } from "vitest";
import { emptyRequest, type Message, type Request, type ToolDefinition } from "../../../core/ir.ts";
import { scoreComplexity, TIERS, type Tier } from "../../../core/routing/complexity.ts";

// Smart routing's scorer: a request → a tier, a score and the signals behind it. It runs on every
// request of a smart route, so it must be pure, and cheap however large the prompt.

const user = (text: string): Message => ({ role: "user", content: [{ type: "text", text }] });
const assistant = (text: string): Message => ({ role: "assistant", content: [{ type: "text", text }] });
const ask = (text: string, over: Partial<Request> = {}): Request => ({ ...emptyRequest("smart"), messages: [user(text)], ...over });
const tool = (name: string): ToolDefinition => ({ name, description: `the ${name} tool`, parameters: { type: "object", properties: {} } });

/** An agent's turn: it called a tool and got its result back. */
function toolRound(n: number): Message[] {
  return [
    { role: "assistant", content: [{ type: "tool-call", id: `call_${n}`, name: "read_file", arguments: `{"path":"src/${n}.ts"}` }] },
    { role: "tool", content: [{ type: "tool-result", toolCallId: `call_${n}`, content: [{ type: "text", text: `export const x${n} = ${n};` }] }] },
  ];
}

const MEDIUM_ASK = "Write a Python function that parses an ISO 8601 date string. It must handle time zones and should return None for invalid input.";

const COMPLEX_ASK = `We are migrating the billing service. Please do the following:

1. Read src/billing/invoice.ts and src/billing/tax.ts.
2. Refactor computeTotal so that taxes are applied per line item.
3. Add unit tests for the rounding edge cases.
4. Finally, run the test suite and fix whatever breaks.

Here is the current code:

\`\`\`ts
export function computeTotal(lines: Line[]): number {
  return lines.reduce((sum, l) => sum + l.price * l.qty, 0) * (1 + TAX_RATE);
}
\`\`\`

It fails with:

\`\`\`
TypeError: Cannot read properties of undefined (reading 'price')
    at computeTotal (src/billing/invoice.ts:12:40)
\`\`\`
`;

const complexRequest = (): Request => ({
  ...emptyRequest("smart"),
  system: [{ type: "text", text: "You are a careful senior engineer working in a TypeScript monorepo." }],
  messages: [user(COMPLEX_ASK), ...toolRound(1), ...toolRound(2)],
  tools: [tool("read_file"), tool("write_file"), tool("run_tests")],
});

describe("the four tiers, by example", () => {
  test("a greeting and a one-line factual question are simple", () => {
    expect(scoreComplexity(ask("Hi there!")).tier).toBe("simple");
    expect(scoreComplexity(ask("What is the capital of France?")).tier).toBe("simple");
    // A lone "why" is a cue, but one weak cue is noise.
    expect(scoreComplexity(ask("Why is the sky blue?")).tier).toBe("simple");
  });

  test("writing a function with a couple of requirements is medium", () => {
    const c = scoreComplexity(ask(MEDIUM_ASK));
    expect(c.tier).toBe("medium");
    expect(c.signals).toEqual(["coding-task", "constraints"]);
  });

  test("a long multi-step coding task with tools, code blocks and tool results is complex", () => {
    const c = scoreComplexity(complexRequest());
    expect(c.tier).toBe("complex");
    expect(c.signals).toEqual(expect.arrayContaining(["code", "coding-task", "multi-step", "tools:3", "tool-results:2"]));
  });

  test("a proof, step by step, is reasoning", () => {
    const c = scoreComplexity(ask("Prove that there are infinitely many primes, step by step."));
    expect(c.tier).toBe("reasoning");
    expect(c.signals).toContain("proof");
  });

  test("an empty request is simple, with nothing to say about it", () => {
    expect(scoreComplexity(emptyRequest("smart"))).toEqual({ tier: "simple", score: 0, signals: [] });
  });

  test("every tier is reachable", () => {
    const examples: Record<Tier, Request> = {
      simple: ask("Hello!"),
      medium: ask(MEDIUM_ASK),
      complex: complexRequest(),
      reasoning: ask("What is 17 * 23? Work it out step by step."),
    };
    for (const tier of TIERS) expect(scoreComplexity(examples[tier]).tier).toBe(tier);
    expect(TIERS).toEqual(["simple", "medium", "complex", "reasoning"]);
  });
});

describe("the reasoning tier", () => {
  test("reasoningEffort medium or high asks for it outright; low and minimal leave it to the score", () => {
    expect(scoreComplexity(ask("Hi", { reasoningEffort: "high" }))).toMatchObject({ tier: "reasoning", signals: ["effort:high"] });
    expect(scoreComplexity(ask("Hi", { reasoningEffort: "medium" })).tier).toBe("reasoning");
    expect(scoreComplexity(ask("Hi", { reasoningEffort: "low" })).tier).toBe("simple");
    expect(scoreComplexity(ask("Hi", { reasoningEffort: "minimal" })).tier).toBe("simple");
  });

  test("step by step over math or logic is reasoning; step by step over a recipe is not", () => {
    expect(scoreComplexity(ask("Solve this logic puzzle step by step: three boxes, one label is true…")).tier).toBe("reasoning");
    expect(scoreComplexity(ask("Explain how to bake bread, step by step.")).tier).not.toBe("reasoning");
  });

  test("a proof of concept is not a proof", () => {
    expect(scoreComplexity(ask("Can you sketch a proof of concept for a chat widget?")).signals).not.toContain("proof");
  });

  test("\"think step by step\" in the system prompt is boilerplate: it does not make every request reasoning", () => {
    const ir = ask("What is 2 + 2?", { system: [{ type: "text", text: "Always think step by step." }] });
    expect(scoreComplexity(ir).tier).not.toBe("reasoning");
  });
});

describe("signals", () => {
  test("each signal is named in the result, in a fixed order", () => {
    const ir: Request = {
      ...ask(`Why does this crash? Analyze the trade-offs of each fix.\n\n\`\`\`js\nconst f = (x) => x.y;\n\`\`\``),
      tools: [tool("search")],
      responseFormat: { type: "json-schema", name: "answer", schema: { type: "object" } },
      maxTokens: 16_000,
    };
    ir.messages[0]!.content.push({ type: "image", source: { kind: "url", url: "https://example.com/screenshot.png" } });
    const c = scoreComplexity(ir);
    expect(c.signals).toEqual(["code", "reasoning-cues", "tools:1", "images", "structured-output", "long-output"]);
    expect(c.score).toBe(2 + 3 + 1 + 2 + 2 + 1);
  });

  test("code is seen in fences, in syntax and in stack traces", () => {
    const has = (text: string) => scoreComplexity(ask(text)).signals.includes("code");
    expect(has("```\nls -la\n```")).toBe(true);
    expect(has("def parse(s):\n    return s.strip()")).toBe(true);
    expect(has("#include <stdio.h>")).toBe(true);
    expect(has("Traceback (most recent call last):\n  File \"a.py\", line 1")).toBe(true);
    expect(has("What is a function in mathematics?")).toBe(false);
  });

  test("tools offered push the score up, unless toolChoice is none", () => {
    const tools = [tool("a"), tool("b"), tool("c"), tool("d")];
    expect(scoreComplexity(ask("Hi", { tools })).signals).toEqual(["tools:4"]);
    expect(scoreComplexity(ask("Hi", { tools })).score).toBe(3); // capped: a fifth tool is not a harder task
    expect(scoreComplexity(ask("Hi", { tools, toolChoice: { type: "none" } })).signals).toEqual([]);
  });

  test("tool results in the history push the score up: an agentic loop in progress", () => {
    const fresh = ask("Look at the repo and tell me what it does.");
    const looping: Request = { ...fresh, messages: [...fresh.messages, ...toolRound(1), ...toolRound(2)] };
    const deep: Request = { ...fresh, messages: [...fresh.messages, ...[1, 2, 3, 4, 5].flatMap(toolRound)] };
    expect(scoreComplexity(looping).score).toBeGreaterThan(scoreComplexity(fresh).score);
    expect(scoreComplexity(looping).signals).toContain("tool-results:2");
    expect(scoreComplexity(deep).score).toBeGreaterThan(scoreComplexity(looping).score);
  });

  test("multi-step instructions: a list, \"first … then\", \"then … finally\"", () => {
    const multi = (text: string) => scoreComplexity(ask(text)).signals.includes("multi-step");
    expect(multi("- fetch the page\n- extract the links\n- sort them")).toBe(true);
    expect(multi("First summarise the article, then translate the summary to German.")).toBe(true);
    expect(multi("Clean the data. Then fit a model. Finally, plot the residuals.")).toBe(true);
    // Mentioning "first" and "then" is not giving instructions.
    expect(multi("When did humans first land on the moon, and what happened then?")).toBe(false);
  });

  test("a long conversation counts: many turns and much text", () => {
    const turns = Array.from({ length: 12 }, (_, i) => (i % 2 ? assistant("x".repeat(2000)) : user("y".repeat(2000))));
    const c = scoreComplexity({ ...emptyRequest("smart"), messages: [...turns, user("And now?")] });
    expect(c.signals).toEqual(["long-history", "many-turns"]);
    expect(c.tier).toBe("medium");
  });
});

describe("pure and cheap", () => {
  test("the same request always scores the same", () => {
    const ir = complexRequest();
    const once = scoreComplexity(ir);
    expect(scoreComplexity(ir)).toEqual(once);
    expect(scoreComplexity(structuredClone(ir))).toEqual(once);
  });

  test("a 1 MB prompt is scored, and only its last 16 KiB of user text is read", () => {
    const filler = "lorem ipsum dolor sit amet ".repeat(40_000); // ≈ 1 MB
    const codeFirst = scoreComplexity(ask(`\`\`\`\nint main() {}\n\`\`\`\n${filler}`));
    const codeLast = scoreComplexity(ask(`${filler}\n\`\`\`\nint main() {}\n\`\`\``));
    expect(codeFirst.signals).toEqual(["very-long-prompt", "long-history"]);
    expect(codeLast.signals).toEqual(["very-long-prompt", "long-history", "code"]);
  });

  test("old history beyond the cap does not change the result", () => {
    const latest = user("lorem ipsum ".repeat(90_000)); // ≈ 1 MB, fills the scanned window alone
    const alone: Request = { ...emptyRequest("smart"), messages: [latest] };
    const withOld: Request = {
      ...alone,
      messages: [user("Prove, step by step, that √2 is irrational. ```py\ndef f(): pass\n```"), assistant("Sure."), latest],
    };
    expect(scoreComplexity(withOld)).toEqual(scoreComplexity(alone));
  });

  test("the system prompt is read from its head only", () => {
    const system = (text: string): Request => ask("Hi", { system: [{ type: "text", text }] });
    const padding = "You are a helpful assistant. ".repeat(1000); // ≈ 29 KiB
    expect(scoreComplexity(system(`#include <stdio.h>\n${padding}`)).signals).toContain("code");
    expect(scoreComplexity(system(`${padding}\n#include <stdio.h>`)).signals).not.toContain("code");
  });
});
