// Token-saver benchmark: `bun run bench:saver`.
//
// Reads the corpus the repo ships, bench/corpus/*.json: coding-agent conversations in OpenAI
// Chat Completions shape whose tool results are long git diffs, failing test runs, compiler and
// linter output, stack traces, listings, grep results, big JSON answers and logs (written by
// bench/make-corpus.ts). Each conversation is decoded by the gateway's own codec, and replayed
// request by request the way the gateway sees it: each request's newest turn goes through the
// compressors, everything before it is sent again as the client has it.
//
// Prints: per compressor alone, the tool outputs it changed and their tokens before and after
// (o200k, the gateway's tokenizer); all compressors in order, per conversation and overall, for
// the tool outputs and for every request's whole input; and the fidelity check (bench/fidelity.ts):
// every error line, file path, path:line and failing test name of the input, and how many were
// lost. A benchmark: it exits 0 unless the corpus is missing; items lost are printed, not hidden.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openaiChat } from "../core/dialects/openai-chat/index.ts";
import { isGatewayError } from "../core/errors.ts";
import type { CompressorPlugin, IR } from "../core/plugins/hooks.ts";
import { freshTail } from "../core/pipeline/plugins.ts";
import { countTokens, textTokens } from "../core/tokens/count.ts";
import { builtinCompressors } from "../plugins/compressors/index.ts";
import { KINDS, lost, mustKeep, type Item, type Kind } from "./fidelity.ts";

const CORPUS = join(import.meta.dir, "corpus");

interface Conversation { name: string; description: string; request: IR.Request }

function load(): Conversation[] {
  const files = readdirSync(CORPUS).filter((f) => f.endsWith(".json")).sort();
  if (files.length === 0) throw new Error(`no corpus in ${CORPUS}: run bun bench/make-corpus.ts`);
  return files.map((file) => {
    const json = JSON.parse(readFileSync(join(CORPUS, file), "utf8")) as { name: string; description: string; messages: unknown[] };
    const request = openaiChat.decodeRequest({ model: "bench", messages: json.messages });
    if (isGatewayError(request)) throw new Error(`${file}: ${request.message}`);
    return { name: json.name, description: json.description, request };
  });
}

/** Each tool output's text, with the command that printed it. */
function toolOutputs(request: IR.Request): Array<{ command: string; text: string }> {
  const commands = new Map<string, string>();
  const out: Array<{ command: string; text: string }> = [];
  for (const message of request.messages) {
    for (const part of message.content) {
      if (part.type === "tool-call") commands.set(part.id, (JSON.parse(part.arguments) as { cmd?: string }).cmd ?? part.name);
      if (part.type === "tool-result") for (const inner of part.content) if (inner.type === "text") out.push({ command: commands.get(part.toolCallId) ?? "?", text: inner.text });
    }
  }
  return out;
}

const ctx = { request: "bench", model: "bench" };

/** The compressors over the fresh tail of `request`, as the gateway runs them. */
async function compressTail(request: IR.Request, compressors: CompressorPlugin[]): Promise<IR.Request> {
  const from = freshTail(request);
  let tail = request.messages.slice(from);
  for (const c of compressors) {
    const next = await c.compress({ ...request, messages: tail }, ctx);
    if (next) tail = next.messages;
  }
  return { ...request, messages: [...request.messages.slice(0, from), ...tail] };
}

async function compressText(text: string, compressors: CompressorPlugin[]): Promise<string> {
  const request: IR.Request = {
    model: "bench", system: [], tools: [], stream: false, extra: {},
    messages: [
      { role: "assistant", content: [{ type: "tool-call", id: "c", name: "bash", arguments: "{}" }] },
      { role: "tool", content: [{ type: "tool-result", toolCallId: "c", content: [{ type: "text", text }] }] },
    ],
  };
  const part = (await compressTail(request, compressors)).messages[1]!.content[0]!;
  return part.type === "tool-result" && part.content[0]?.type === "text" ? part.content[0].text : text;
}

/** The requests an agent sends over a conversation: one per model turn, with everything before it. */
function requestsOf(request: IR.Request): IR.Request[] {
  const out: IR.Request[] = [];
  request.messages.forEach((message, i) => {
    if (message.role === "assistant") out.push({ ...request, messages: request.messages.slice(0, i) });
  });
  return out;
}

const pct = (before: number, after: number) => (before ? `${(100 * (1 - after / before)).toFixed(1)} %` : "–");
const cell = (value: string | number, width: number) => String(value).padStart(width);
const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

const conversations = load();
const outputs = conversations.flatMap((c) => toolOutputs(c.request).map((o) => ({ ...o, conversation: c.name })));
const corpusBytes = readdirSync(CORPUS).filter((f) => f.endsWith(".json")).reduce((n, f) => n + readFileSync(join(CORPUS, f)).length, 0);

console.log(`Token-saver benchmark: ${builtinCompressors.length} compressors over bench/corpus (${conversations.length} conversations, ${outputs.length} tool outputs, ${(corpusBytes / 1024).toFixed(0)} KB); o200k tokens\n`);

console.log("each compressor alone, over every tool output:\n");
console.log(`  ${"compressor".padEnd(14)} ${cell("outputs touched", 15)} ${cell("tokens before", 14)} ${cell("after", 9)} ${cell("saved", 8)}`);
for (const compressor of builtinCompressors) {
  let before = 0, after = 0, touched = 0;
  for (const { text } of outputs) {
    const out = await compressText(text, [compressor]);
    if (out === text) continue;
    touched++;
    before += textTokens(text);
    after += textTokens(out);
  }
  console.log(`  ${compressor.name.padEnd(14)} ${cell(touched, 15)} ${cell(before, 14)} ${cell(after, 9)} ${cell(pct(before, after), 8)}`);
}

console.log("\nall compressors in order, per tool output:\n");
console.log(`  ${"conversation".padEnd(20)} ${"command".padEnd(44)} ${cell("before", 7)} ${cell("after", 7)} ${cell("saved", 8)}  fidelity`);
let toolBefore = 0, toolAfter = 0;
const checked: Record<Kind, number> = { error: 0, path: 0, line: 0, test: 0 };
const lostItems: Array<Item & { where: string }> = [];
for (const { conversation, command, text } of outputs) {
  const out = await compressText(text, builtinCompressors);
  const before = textTokens(text);
  const after = textTokens(out);
  toolBefore += before;
  toolAfter += after;
  const items = mustKeep(text);
  for (const item of items) checked[item.kind]++;
  const missing = lost(items, out);
  lostItems.push(...missing.map((m) => ({ ...m, where: `${conversation}: ${command}` })));
  const counts = KINDS.map((k) => `${items.filter((i) => i.kind === k).length} ${k}`).join(", ");
  console.log(`  ${conversation.padEnd(20)} ${short(command, 44).padEnd(44)} ${cell(before, 7)} ${cell(after, 7)} ${cell(pct(before, after), 8)}  ${missing.length === 0 ? "✓" : `✗ ${missing.length} lost`} of ${counts}`);
}

console.log("\nwhole conversations, request by request (only each request's newest turn is compressed; the history is sent as the client has it):\n");
console.log(`  ${"conversation".padEnd(20)} ${cell("requests", 8)} ${cell("input tokens before", 20)} ${cell("after", 9)} ${cell("saved", 8)}`);
let allBefore = 0, allAfter = 0;
for (const c of conversations) {
  let before = 0, after = 0;
  const requests = requestsOf(c.request);
  for (const request of requests) {
    before += countTokens(request).total;
    after += countTokens(await compressTail(request, builtinCompressors)).total;
  }
  allBefore += before;
  allAfter += after;
  console.log(`  ${c.name.padEnd(20)} ${cell(requests.length, 8)} ${cell(before, 20)} ${cell(after, 9)} ${cell(pct(before, after), 8)}`);
}

console.log(`\noverall: tool outputs ${toolBefore} → ${toolAfter} tokens (${pct(toolBefore, toolAfter)} saved); every request's input ${allBefore} → ${allAfter} tokens (${pct(allBefore, allAfter)} saved)`);
console.log(`fidelity: checked ${KINDS.map((k) => `${checked[k]} ${k === "line" ? "path:line refs" : k === "test" ? "failing tests" : `${k}s`}`).join(", ")}; lost ${lostItems.length}`);
for (const item of lostItems.slice(0, Number(process.env.SHOW ?? 30))) console.log(`  ✗ ${item.kind} ${JSON.stringify(short(item.value, 100))} (${item.where})`);
if (lostItems.length > 30) console.log(`  … and ${lostItems.length - 30} more`);
