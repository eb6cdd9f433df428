import type { Message, Request } from "../ir.ts";

// Smart routing's request-complexity scorer: request → tier (simple, medium, complex,
// reasoning), which picks the route's target list for that tier. It runs on every request of a
// smart route, so it is pure, deterministic and cheap: it sums lengths and counts parts over the
// whole request, but reads text only from the last 16 Ki characters of user text and the first
// 4 Ki of the system prompt, with regular expressions that cannot backtrack catastrophically.
// It never tokenizes.
//
// Weights (points added to the score), and why:
//   long-prompt       +1 latest user message ≥ 2k chars (very-long-prompt +2 from 8k): more to read and do.
//   long-history      +1 conversation ≥ 20k chars: more context to keep straight.
//   many-turns        +1 ≥ 10 messages: a long conversation drifts, a weak model loses the thread.
//   code              +2 fenced blocks, code syntax or stack traces: code must be read exactly.
//   coding-task       +2 "write/implement/refactor/debug … function/script/…": producing code is harder than chatting.
//   constraints       +1 two or more of must/should/ensure/without/never…: several requirements to meet at once.
//   reasoning-cues    +1 per distinct cue (why, analyse, trade-off…), at most +3: analysis, not recall.
//   multi-step        +2 a list of ≥ 3 instructions, "first … then", "then … finally": ordered work.
//   tools:N           +1 per tool offered, at most +3: choosing and calling tools well is harder than answering.
//   tool-results:N    +2 (+3 from 5): an agentic loop in progress, which a weak model derails.
//   images            +2: needs a model with vision.
//   structured-output +2 a JSON schema (json-output +1 for plain JSON): the answer must parse and conform.
//   long-output       +1 maxTokens ≥ 8192: the client expects a long answer.
//
// Thresholds: score < 2 is simple (one weak signal alone, such as a "why", is noise); < 6 is
// medium (one or two real signals); 6 and more is complex (several at once). Tier reasoning
// overrides the score: reasoningEffort medium/high (the client asked for it), a proof to write,
// or "step by step" over math or logic.

export type Tier = "simple" | "medium" | "complex" | "reasoning";
export const TIERS: readonly Tier[] = ["simple", "medium", "complex", "reasoning"];

export interface Complexity {
  tier: Tier;
  /** The sum of the signals' weights (tier reasoning is decided apart from it). */
  score: number;
  /** What fired, in a fixed order: recorded with the routing decision, for people to read. */
  signals: string[];
}

const MEDIUM_AT = 2;
const COMPLEX_AT = 6;
/** How much text is read: the newest user text (where the ask is) and the head of the system prompt. */
const USER_SCAN_CHARS = 16 * 1024;
const SYSTEM_SCAN_CHARS = 4 * 1024;

// Code as it is written (case-sensitive: `class Foo {`, not "world class").
const CODE: readonly RegExp[] = [
  /```/,
  /\b(?:function\s*[\w$]*\s*\(|def\s+\w+\s*\(|fn\s+\w+\s*\(|func\s+\w+\s*\()/,
  /\bclass\s+[A-Z]\w*(?:\s*[:({]|\s+extends\b|\s+implements\b)/,
  /=>/,
  /#include\s*[<"]/,
  /\bimport\s+[\w{*][^\n]{0,80}\sfrom\s+["']/,
  /^from\s+[\w.]+\s+import\s/m,
  /\b(?:console\.log|System\.out\.print|printf)\s*\(|std::/,
  // Stack traces: Python, JavaScript/Java frames, exception lines, Go and Rust panics.
  /Traceback \(most recent call last\)/,
  /^[ \t]+at [\w$.<>]+ \(/m,
  /\b[A-Z]\w*(?:Error|Exception)\b: /,
  /\bpanicked at\b|^panic: /m,
];

// Asking for analysis rather than recall (lower-cased text); each counts once.
const REASONING_CUES: readonly RegExp[] = [
  /\bstep[- ]by[- ]step\b/,
  /\b(?:prove|disprove|proof)\b/,
  /\bderiv(?:e|ation)\b/,
  /\bwhy\b/,
  /\banaly[sz](?:e|is|ing)\b/,
  /\btrade[- ]?offs?\b/,
  /\bthink (?:carefully|hard|deeply|through)\b/,
  /\breason (?:about|through|carefully)\b/,
  /\bjustify\b/,
  /\b(?:compare|comparison|pros and cons)\b/,
  /\b(?:evaluate|assess|critique)\b/,
  /\broot cause\b/,
  /\b(?:edge|corner) cases?\b/,
  /\b(?:optimal|time complexity|space complexity)\b/,
];
const MAX_CUE_POINTS = 3;

/** A proof to write (but not a "proof of concept"). */
const PROOF = /\b(?:prove|disprove|theorem|lemma|corollary)\b|\bproof (?:that|of(?! concept))\b/;
const STEP_BY_STEP = /\bstep[- ]by[- ]step\b/;
const MATH_OR_LOGIC =
  /\b(?:equations?|integrals?|derivatives?|probability|primes?|matrix|matrices|polynomials?|logic(?:al)?|puzzle|riddle|induction|modulo|inequality|irrational|infinitely|geometry|algebra|calculus|combinatorics|paradox|syllogism)\b|\d\s*[-+*/^=<>]\s*\d|[∑∫√≤≥≠∀∃]/;

const CODING_TASK: readonly RegExp[] = [
  /\b(?:refactor|debug|implement|unit tests?|write code|code review)\b/,
  /\b(?:write|create|build|fix|generate)\b[^.?!\n]{0,40}\b(?:functions?|methods?|class(?:es)?|scripts?|programs?|modules?|endpoints?|query|queries|tests?|components?|regex|algorithms?|bugs?|parser)\b/,
];

const CONSTRAINTS: readonly RegExp[] = [
  /\bmust\b/,
  /\bshould\b/,
  /\b(?:ensure|make sure)\b/,
  /\bwithout\b/,
  /\b(?:at least|at most|no more than)\b/,
  /\b(?:don't|do not|never|avoid)\b/,
  /\bhandle\b/,
];

/** Lines that start a numbered or bulleted item. */
const LIST_ITEM = /^[ \t]*(?:\d{1,2}[.)]|[-*•])[ \t]+\S/gm;
const FINALLY = /\b(?:finally|lastly|after that|afterwards)\b/;
/** "First" opening a clause ("First, read…", "…. First summarise"), not "when did humans first land". */
const FIRST = /(?:^|[.:;!?]\s*)first\b|\bfirst,/m;
/** "Then" leading on to something to do, not ending a question ("what happened then?"). */
const THEN = /\bthen\b,?[ \t]*\w/;

export function scoreComplexity(ir: Request): Complexity {
  const signals: string[] = [];
  let score = 0;
  const add = (signal: string, points: number) => {
    signals.push(signal);
    score += points;
  };

  // Sizes and counts over the whole request: sums of lengths, no text is read.
  let latestUser = -1;
  let totalChars = 0;
  let toolResults = 0;
  let images = 0;
  for (let i = 0; i < ir.messages.length; i++) {
    const m = ir.messages[i]!;
    for (const part of m.content) {
      if (part.type === "text" || part.type === "reasoning") totalChars += part.text.length;
      else if (part.type === "tool-call") totalChars += part.arguments.length;
      else if (part.type === "image") images++;
      else if (part.type === "tool-result") {
        toolResults++;
        for (const inner of part.content) {
          if (inner.type === "text") totalChars += inner.text.length;
          else images++;
        }
      }
    }
    if (m.role === "user" && m.content.some((p) => p.type === "text")) latestUser = i;
  }
  // The latest user message that says something: in an agentic loop the last user turn may hold only tool results.
  const latestChars = latestUser < 0 ? 0 : textLength(ir.messages[latestUser]!);

  const user = userTail(ir.messages, USER_SCAN_CHARS);
  const system = systemHead(ir, SYSTEM_SCAN_CHARS);
  const lowerUser = user.toLowerCase();
  // The system prompt counts for the material it carries (code, a call for analysis), not for its
  // lists and musts: nearly every system prompt is a list of rules, whatever the request.
  const lowerBoth = `${lowerUser}\n${system.toLowerCase()}`;

  if (latestChars >= 8000) add("very-long-prompt", 2);
  else if (latestChars >= 2000) add("long-prompt", 1);
  if (totalChars >= 20_000) add("long-history", 1);
  if (ir.messages.length >= 10) add("many-turns", 1);

  if (CODE.some((re) => re.test(user) || re.test(system))) add("code", 2);
  if (CODING_TASK.some((re) => re.test(lowerUser))) add("coding-task", 2);
  if (CONSTRAINTS.filter((re) => re.test(lowerUser)).length >= 2) add("constraints", 1);
  const cues = REASONING_CUES.filter((re) => re.test(lowerBoth)).length;
  if (cues > 0) add("reasoning-cues", Math.min(cues, MAX_CUE_POINTS));
  if (isMultiStep(user, lowerUser)) add("multi-step", 2);

  const toolsUsable = ir.tools.length > 0 && ir.toolChoice?.type !== "none";
  if (toolsUsable) add(`tools:${ir.tools.length}`, Math.min(ir.tools.length, 3));
  if (toolResults > 0) add(`tool-results:${toolResults}`, toolResults >= 5 ? 3 : 2);
  if (images > 0) add("images", 2);
  if (ir.responseFormat?.type === "json-schema") add("structured-output", 2);
  else if (ir.responseFormat?.type === "json") add("json-output", 1);
  if ((ir.maxTokens ?? 0) >= 8192) add("long-output", 1);

  // Tier reasoning: asked for outright, or a task that needs careful chains of logic. Read from
  // the user's text only: "think step by step" in a system prompt is boilerplate, not the task.
  let reasoning = false;
  if (ir.reasoningEffort === "medium" || ir.reasoningEffort === "high") {
    signals.push(`effort:${ir.reasoningEffort}`);
    reasoning = true;
  }
  if (PROOF.test(lowerUser)) {
    signals.push("proof");
    reasoning = true;
  } else if (STEP_BY_STEP.test(lowerUser) && MATH_OR_LOGIC.test(lowerUser)) {
    signals.push("step-by-step-math");
    reasoning = true;
  }

  const tier: Tier = reasoning ? "reasoning" : score >= COMPLEX_AT ? "complex" : score >= MEDIUM_AT ? "medium" : "simple";
  return { tier, score, signals };
}

function textLength(m: Message): number {
  let n = 0;
  for (const part of m.content) if (part.type === "text") n += part.text.length;
  return n;
}

/** The newest `cap` characters of user text, oldest first: the ask is at the end of a conversation. */
function userTail(messages: Message[], cap: number): string {
  const chunks: string[] = [];
  let left = cap;
  for (let i = messages.length - 1; i >= 0 && left > 0; i--) {
    const m = messages[i]!;
    if (m.role !== "user") continue;
    for (let j = m.content.length - 1; j >= 0 && left > 0; j--) {
      const part = m.content[j]!;
      if (part.type !== "text") continue;
      const piece = part.text.length > left ? part.text.slice(part.text.length - left) : part.text;
      chunks.push(piece);
      left -= piece.length + 1; // + the newline that joins it
    }
  }
  return chunks.reverse().join("\n");
}

/** The first `cap` characters of the system prompt: its opening says what the assistant is for. */
function systemHead(ir: Request, cap: number): string {
  let head = "";
  for (const part of ir.system) {
    if (head.length >= cap) break;
    head += (head ? "\n" : "") + part.text.slice(0, cap - head.length);
  }
  return head.slice(0, cap);
}

function isMultiStep(text: string, lower: string): boolean {
  const items = text.match(LIST_ITEM)?.length ?? 0;
  if (items >= 3) return true;
  const first = lower.search(FIRST);
  if (first >= 0 && THEN.test(lower.slice(first))) return true; // "first … then …"
  return FINALLY.test(lower) && (items >= 2 || THEN.test(lower)); // "… then … finally …"
}
