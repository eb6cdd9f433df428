import fc from "fast-check";
import type { Dialect, Kind } from "./dialects.ts";

// Arbitraries for the request-body fuzzer (RELIABILITY T04): per endpoint, a valid body, and
// mutations of it at three levels —
//   tree:  drop a field, replace it with a value of the wrong type, insert an unknown or a
//          prototype-polluting key, wrap a value in an array or an object;
//   text:  truncate, duplicate keys, 1e400 and other numbers JSON.parse turns into Infinity or 0,
//          invalid tokens (NaN, trailing commas, bad escapes, raw control characters), 100 000-deep
//          nesting (built as text, never by recursion), multi-MiB strings, garbage before or after;
//   bytes: invalid UTF-8 (overlong, surrogates, truncated sequences, stray continuation bytes),
//          UTF-16 and Latin-1 encodings;
// and fully random JSON values, text and bytes, with the right or a wrong Content-Type.
// A Case says whether its body is certainly invalid for the endpoint (`expect: "invalid"`: the
// reply must be a 4xx), certainly valid (`"valid"`: the unmutated body, a 2xx), or either.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Endpoint {
  /** For reports: the path with `{m}` for Gemini's model. */
  name: string;
  dialect: Dialect;
  kind: Kind;
  /** A valid request: path (Gemini's carries the model) and body. */
  valid: fc.Arbitrary<{ path: string; body: Json }>;
}

export interface Case {
  endpoint: string;
  path: string;
  bytes: Uint8Array;
  /** null: no Content-Type header at all. */
  contentType: string | null;
  expect: "valid" | "invalid" | "any";
  /** The longest run of one repeated character spliced in (0 if none), for test/fuzz/known.ts. */
  longRun: number;
  /** How the body was made, for reports. */
  label: string;
  /** A short, printable picture of the body (bodies may be MiBs). */
  preview: string;
  [fc.toStringMethod](): string;
}

// ---------------------------------------------------------------------------------------------
// Valid bodies

const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 20, unit: "grapheme" }) },
).filter((s) => s.trim() !== "");
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** An object without the keys whose value is undefined (fc.record's optional keys, spelled out). */
const defined = (o: Record<string, Json | undefined>): { [key: string]: Json } =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [key: string]: Json };

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR42mNk+M8AAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
const CHAT_MODELS = ["gpt-x", "claude-x", "gemini-x", "fuzz-oa", "fuzz-an", "fuzz-ge", "oa/gpt-x", "an/claude-x", "ge/gemini-x"];
const GEN_URL_MODELS = ["gemini-x", "gpt-x", "claude-x", "ge/gemini-x", "fuzz-an"];
const EMBED_MODELS = ["emb-x", "gemini-emb", "oa/emb-x", "ge/gemini-emb"];
const model = fc.constantFrom(...CHAT_MODELS);
const stream = maybe(fc.boolean());

const chatTool = { type: "function", function: { name: "get_weather", description: "weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };
const chatUser = fc.oneof(
  text.map((t): Json => ({ role: "user", content: t })),
  text.map((t): Json => ({ role: "user", content: [{ type: "text", text: t }] })),
  text.map((t): Json => ({ role: "user", content: [{ type: "text", text: t }, { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } }] })),
);
const chatBody = fc.record({
  model, first: chatUser, history: fc.boolean(), system: maybe(text), stream, tools: fc.boolean(),
  max_tokens: maybe(fc.integer({ min: 1, max: 4096 })), temperature: maybe(fc.double({ min: 0, max: 2, noNaN: true })),
}).map(({ first, history, system, tools, ...rest }) => defined({
  ...rest,
  messages: [
    ...(system ? [{ role: "system", content: system }] : []),
    first,
    ...(history ? [{ role: "assistant", content: "earlier" }, { role: "user", content: "and now?" }] : []),
  ],
  tools: tools ? [chatTool] : undefined,
}));

const responsesBody = fc.record({
  model, stream, instructions: maybe(text), max_output_tokens: maybe(fc.integer({ min: 16, max: 4096 })), store: maybe(fc.boolean()),
  input: fc.oneof(
    text.map((t): Json => t),
    text.map((t): Json => [{ role: "user", content: t }]),
    text.map((t): Json => [{ type: "message", role: "user", content: [{ type: "input_text", text: t }] }]),
  ),
}).map((o) => defined(o));

const anthropicUser = fc.oneof(
  text.map((t): Json => ({ role: "user", content: t })),
  text.map((t): Json => ({ role: "user", content: [{ type: "text", text: t }] })),
  text.map((t): Json => ({ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: PNG } }, { type: "text", text: t }] })),
);
const anthropicTool = { name: "get_weather", description: "weather", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } };
const messagesFields = {
  model, first: anthropicUser, history: fc.boolean(), system: maybe(text), tools: fc.boolean(),
};
const messagesList = ({ first, history }: { first: Json; history: boolean }): Json[] =>
  [first, ...(history ? [{ role: "assistant", content: "earlier" }, { role: "user", content: "and now?" }] : [])];
const messagesBody = fc.record({ ...messagesFields, stream, max_tokens: fc.integer({ min: 1, max: 4096 }), temperature: maybe(fc.double({ min: 0, max: 1, noNaN: true })) })
  .map(({ first, history, tools, ...rest }) => defined({ ...rest, messages: messagesList({ first, history }), tools: tools ? [anthropicTool] : undefined }));
const countBody = fc.record(messagesFields)
  .map(({ first, history, tools, ...rest }) => defined({ ...rest, messages: messagesList({ first, history }), tools: tools ? [anthropicTool] : undefined }));

const geminiUser = fc.oneof(
  text.map((t): Json => ({ role: "user", parts: [{ text: t }] })),
  text.map((t): Json => ({ parts: [{ text: t }] })),
  text.map((t): Json => ({ role: "user", parts: [{ inlineData: { mimeType: "image/png", data: PNG } }, { text: t }] })),
);
const geminiTool = { functionDeclarations: [{ name: "get_weather", description: "weather", parameters: { type: "OBJECT", properties: { city: { type: "STRING" } }, required: ["city"] } }] };
const geminiFields = fc.record({
  first: geminiUser, history: fc.boolean(), system: maybe(text), tools: fc.boolean(),
  generationConfig: maybe(fc.record({ temperature: fc.double({ min: 0, max: 2, noNaN: true }), maxOutputTokens: fc.integer({ min: 1, max: 4096 }) })),
}).map(({ first, history, system, tools, generationConfig }) => defined({
  contents: [first, ...(history ? [{ role: "model", parts: [{ text: "earlier" }] }, { role: "user", parts: [{ text: "and now?" }] }] : [])],
  systemInstruction: system ? { parts: [{ text: system }] } : undefined,
  tools: tools ? [geminiTool] : undefined,
  generationConfig,
}));
const geminiPath = (prefix: string, action: string, models: string[]) =>
  fc.constantFrom(...models).map((m) => `${prefix}/${m.includes("/") ? encodeURIComponent(m) : m}:${action}`);

const embedContent = text.map((t): Json => ({ parts: [{ text: t }] }));
const dims = maybe(fc.integer({ min: 1, max: 8 }));

export const ENDPOINTS: Endpoint[] = [
  { name: "/v1/chat/completions", dialect: "openai", kind: "chat", valid: chatBody.map((body) => ({ path: "/v1/chat/completions", body })) },
  { name: "/v1/responses", dialect: "openai", kind: "responses", valid: responsesBody.map((body) => ({ path: "/v1/responses", body })) },
  { name: "/v1/messages", dialect: "anthropic", kind: "messages", valid: messagesBody.map((body) => ({ path: "/v1/messages", body })) },
  { name: "/v1/messages/count_tokens", dialect: "anthropic", kind: "count_tokens", valid: countBody.map((body) => ({ path: "/v1/messages/count_tokens", body })) },
  {
    name: "/v1beta/models/{m}:generateContent", dialect: "gemini", kind: "generate",
    valid: fc.record({ path: geminiPath("/v1beta/models", "generateContent", GEN_URL_MODELS), body: geminiFields }),
  },
  {
    name: "/v1beta/models/{m}:streamGenerateContent?alt=sse", dialect: "gemini", kind: "stream",
    valid: fc.record({ path: geminiPath("/v1beta/models", "streamGenerateContent", GEN_URL_MODELS).map((p) => `${p}?alt=sse`), body: geminiFields }),
  },
  {
    name: "/v1beta/models/{m}:countTokens", dialect: "gemini", kind: "count",
    valid: fc.record({
      path: geminiPath("/v1beta/models", "countTokens", GEN_URL_MODELS),
      body: fc.oneof(geminiFields, geminiFields.map((inner): Json => ({ generateContentRequest: inner }))),
    }),
  },
  {
    name: "/v1beta/models/{m}:embedContent", dialect: "gemini", kind: "embed",
    valid: fc.record({
      path: geminiPath("/v1beta/models", "embedContent", EMBED_MODELS),
      body: fc.record({ content: embedContent, outputDimensionality: dims }).map((o) => defined(o)),
    }),
  },
  {
    name: "/v1beta/models/{m}:batchEmbedContents", dialect: "gemini", kind: "batch_embed",
    valid: fc.record({
      path: geminiPath("/v1beta/models", "batchEmbedContents", EMBED_MODELS),
      body: fc.record({ contents: fc.array(embedContent, { minLength: 1, maxLength: 3 }), d: dims })
        .map(({ contents, d }): Json => ({ requests: contents.map((content) => defined({ model: "models/gemini-emb", content, outputDimensionality: d })) })),
    }),
  },
  {
    name: "/v1/embeddings", dialect: "openai", kind: "embeddings",
    valid: fc.record({
      model: fc.constantFrom(...EMBED_MODELS),
      input: fc.oneof(text.map((t): Json => t), fc.array(text, { minLength: 1, maxLength: 4 })),
      encoding_format: maybe(fc.constantFrom("float", "base64")),
      dimensions: dims,
    }).map((o) => ({ path: "/v1/embeddings", body: defined(o) })),
  },
  {
    name: "/v1/models/{m}:generateContent", dialect: "gemini", kind: "generate",
    valid: fc.record({ path: geminiPath("/v1/models", "generateContent", GEN_URL_MODELS), body: geminiFields }),
  },
];

// ---------------------------------------------------------------------------------------------
// Values to put where they do not belong

/** A value for the tree: plain JSON, or raw text spliced in after serialisation. */
export type Evil =
  | { v: Json }
  | { raw: string; invalid: boolean }
  | { deep: number; open: "[" | "{"; closed: boolean }
  | { long: number; ch: string }
  | { polluter: "__proto__" | "constructor" };

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "\u0000", "a\u0000b", "\ud800", "\udfff", "x\ud83d", "\ude00y", "\ufeff", "\u202e", "\u2028\u2029", "\uffff", "\ufffe",
    "NaN", "Infinity", "-Infinity", "1e400", "-0", "null", "undefined", "true", "{}", "[]", "%00", "\\", "\"", "\\u0000",
    "<script>alert(1)</script>", "${7*7}", "' OR 1=1 --", "models/", "../../../etc/passwd", "\r\n\r\nHTTP/1.1 200 OK\r\n", "",
    " ", "\t\n", "data: [DONE]\n\n", "event: error\ndata: {}\n\n", "__proto__", "constructor", "😀".repeat(50),
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.array(fc.oneof(loneSurrogate, fc.string({ maxLength: 3 })), { maxLength: 8 }).map((parts) => parts.join("")),
);

const MODEL_POOL = [
  ...CHAT_MODELS, ...EMBED_MODELS, "ge/gpt-x", "an/gpt-x", "oa/claude-x", "*", "gpt-*", "models/gemini-x", "nope",
  // provider/model passes any model name to that provider: for Gemini it goes in the URL path.
  "ge/../../v1/x", "ge/x?key=y#", "ge/a%2Fb", "ge/x:streamGenerateContent", "ge/a/b", "oa/\u0000", "an/ ",
  // Names every plain object answers to.
  "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "__defineGetter__",
];

const rawNumber = fc.constantFrom(
  "1e400", "-1e400", "1e-400", "-1e-400", "123456789012345678901234567890", "-0", "0e0", "1E+2", "-0.0", "9007199254740993",
  "4294967297", "0.1e1", "1e308", "2e308", "5e-324",
).map((raw): Evil => ({ raw, invalid: false }));
const rawInvalid = fc.constantFrom(
  "NaN", "Infinity", "-Infinity", "+1", "01", ".5", "1.", "0x1F", "1e", "--1", "undefined", "'single'", "True", "nul",
  "\"\\x41\"", "\"\\u12\"", "\"\\U0041\"", "\"\\'\"", "\"a\u0000b\"", "\"tab\there\"", "\"line\nbreak\"", "[1,]", "{\"a\":1,}",
  "{,}", "[,1]", "{\"a\"}", "{\"a\" 1}", "{1:2}", "\"unterminated", "/* c */ 1", "1 // c",
).map((raw): Evil => ({ raw, invalid: true }));
const deep = fc.record({
  deep: fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 200 }) },
    { weight: 2, arbitrary: fc.constantFrom(126, 127, 128, 129, 130) },
    { weight: 2, arbitrary: fc.integer({ min: 1_000, max: 100_000 }) },
    { weight: 1, arbitrary: fc.constant(100_000) },
  ),
  open: fc.constantFrom("[" as const, "{" as const),
  closed: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
}) satisfies fc.Arbitrary<Evil>;
/** Long strings: mostly up to 70 000 characters; now and then 5 MiB (T04), rarely multi-byte. */
const long = fc.record({
  long: fc.oneof(
    { weight: 30, arbitrary: fc.integer({ min: 1_000, max: 70_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 5 * 1024 * 1024 - 16, max: 5 * 1024 * 1024 + 16 }) },
  ),
  ch: fc.constantFrom("x", "é", "\u0000", "😀", "\\n", " "),
}) satisfies fc.Arbitrary<Evil>;

export const evil: fc.Arbitrary<Evil> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 2 ** 53 + 1, -(2 ** 31), 1e308, "", [], {}, [null], [[]], { "": null }).map((v): Evil => ({ v })) },
  { weight: 3, arbitrary: nastyString.map((v): Evil => ({ v })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v): Evil => ({ v: v as Json })) },
  { weight: 2, arbitrary: rawNumber },
  { weight: 1, arbitrary: rawInvalid },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: long },
  { weight: 1, arbitrary: fc.constantFrom("__proto__" as const, "constructor" as const).map((polluter): Evil => ({ polluter })) },
  { weight: 1, arbitrary: fc.constantFrom(...MODEL_POOL).map((v): Evil => ({ v })) },
);

const KEYS = [
  "__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineGetter__", "isPrototypeOf", "then",
  "model", "stream", "messages", "contents", "input", "tools", "role", "type", "text", "parts", "content", "max_tokens",
  "generateContentRequest", "generate_content_request", "system_instruction", "systemInstruction", "stream_options",
  "previous_response_id", "store", "requests", "tool_choice", "n", "functionCall", "function_call", "inline_data", "image_url",
];
const key = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });

// ---------------------------------------------------------------------------------------------
// Mutations

export type TreeMutation =
  | { op: "drop"; sel: number }
  | { op: "replace"; sel: number; value: Evil }
  | { op: "insert"; sel: number; key: string; value: Evil }
  | { op: "wrap"; sel: number; how: "array" | "object" | "string" };

export type TextMutation =
  | { op: "truncate"; at: number }
  | { op: "dupKey"; key: string; value: Evil; where: "first" | "last" }
  | { op: "garbage"; where: "before" | "after"; text: string }
  | { op: "inString"; insert: string }
  | { op: "whitespace"; ws: string };

export type ByteMutation =
  | { op: "badUtf8"; seq: number[]; where: "string" | "anywhere"; at: number }
  | { op: "encode"; as: "utf-16le" | "utf-16be" | "latin1" };

const sel = fc.nat();
const treeMutation: fc.Arbitrary<TreeMutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant("drop" as const), sel }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("replace" as const), sel, value: evil }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("insert" as const), sel, key, value: evil }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("wrap" as const), sel, how: fc.constantFrom("array" as const, "object" as const, "string" as const) }) },
);
const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }) },
  {
    weight: 3, arbitrary: fc.record({
      op: fc.constant("dupKey" as const),
      // Mostly `model`: the gateway routes on the last one, and must rewrite that one upstream.
      key: fc.oneof(
        { weight: 3, arbitrary: fc.constant("model") },
        { weight: 2, arbitrary: fc.constantFrom("stream", "messages", "contents", "input", "max_tokens", "stream_options", "content", "requests", "__proto__") },
      ),
      value: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...MODEL_POOL).map((v): Evil => ({ v })) }, { weight: 1, arbitrary: fc.boolean().map((v): Evil => ({ v })) }, { weight: 1, arbitrary: evil }),
      where: fc.constantFrom("first" as const, "last" as const),
    }),
  },
  {
    weight: 2, arbitrary: fc.record({
      op: fc.constant("garbage" as const), where: fc.constantFrom("before" as const, "after" as const),
      text: fc.constantFrom("x", "}", "]", "{}", ",", "\u0000", "//c", "/*c*/", "\u00a0", "null", "\"\"", "{", "\u001f", ")]}'\n"),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("inString" as const), insert: fc.constantFrom("\u0000", "\u0001", "\n", "\t", "\u001f", "\\x41", "\\u12z", "\\U0041", "\\'", "\\a", "\\u{41}", "\\uZZZZ") }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("whitespace" as const), ws: fc.constantFrom(" ", "\n", "\r\n", "\t", "\ufeff") }) },
);
const BAD_UTF8 = [
  [0xff], [0xfe], [0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0xbf], [0xe0, 0x80, 0xaf], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
  [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
  [0xc3, 0x28], [0xe2, 0x28, 0xa1],
];
const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("badUtf8" as const), seq: fc.constantFrom(...BAD_UTF8), where: fc.constantFrom("string" as const, "anywhere" as const), at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("encode" as const), as: fc.constantFrom("utf-16le" as const, "utf-16be" as const, "latin1" as const) }) },
);

// ---------------------------------------------------------------------------------------------
// Building a body

type Path = Array<string | number>;

/** Every node's path, root first (iterative: a tree may be wide). */
function pathsOf(tree: Json): Path[] {
  const out: Path[] = [];
  const stack: Array<{ node: Json; path: Path }> = [{ node: tree, path: [] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    out.push(path);
    if (Array.isArray(node)) node.forEach((child, i) => stack.push({ node: child, path: [...path, i] }));
    else if (typeof node === "object" && node !== null) for (const [k, child] of Object.entries(node)) stack.push({ node: child, path: [...path, k] });
  }
  return out;
}

function at(tree: Json, path: Path): Json {
  let node: Json = tree;
  for (const step of path) node = (node as Record<string | number, Json>)[step]!;
  return node;
}

/** Set an own property, also for `__proto__` (plain assignment would set the prototype). */
function put(target: Record<string, Json> | Json[], k: string | number, value: Json): void {
  Object.defineProperty(target, k, { value, enumerable: true, writable: true, configurable: true });
}

interface Builder {
  raws: Map<string, { text: () => string; invalid: boolean; run: number }>;
  nonce: string;
}

function token(builder: Builder, text: () => string, invalid: boolean, run = 0): string {
  const t = `@@raw${builder.raws.size}@@${builder.nonce}@@`;
  builder.raws.set(t, { text, invalid, run });
  return t;
}

function polluter(kind: "__proto__" | "constructor"): Json {
  const payload: Record<string, Json> = { polluted: "yes", isAdmin: true, toString: "x" };
  const out: Record<string, Json> = {};
  if (kind === "__proto__") put(out, "__proto__", payload);
  else put(out, "constructor", { prototype: payload });
  return out;
}

/** The value to put in the tree for an Evil: JSON, or a token replaced by raw text later. */
function materialise(builder: Builder, e: Evil): Json {
  // A copy: fc.constantFrom hands out the same [] and {} every time, and mutations write into them.
  if ("v" in e) return e.v === null || typeof e.v !== "object" ? e.v : JSON.parse(JSON.stringify(e.v)) as Json;
  if ("polluter" in e) return polluter(e.polluter);
  if ("raw" in e) return token(builder, () => e.raw, e.invalid);
  if ("long" in e) return token(builder, () => JSON.stringify(e.ch.repeat(Math.ceil(e.long / e.ch.length))), false, e.long);
  const n = e.deep;
  // Unclosed is bad syntax; too deep is judged on the whole body at the end (see levels()).
  const invalid = !e.closed;
  return token(builder, () => {
    if (e.open === "[") return "[".repeat(n) + (e.closed ? "]".repeat(n) : "");
    return "{\"a\":".repeat(n) + "1" + (e.closed ? "}".repeat(n) : "");
  }, invalid);
}

function applyTree(builder: Builder, tree: Json, m: TreeMutation): Json {
  const paths = pathsOf(tree);
  if (m.op === "insert") {
    const containers = paths.filter((p) => { const n = at(tree, p); return typeof n === "object" && n !== null; });
    if (containers.length === 0) return tree;
    const path = containers[m.sel % containers.length]!;
    const node = at(tree, path) as Record<string, Json> | Json[];
    put(node, Array.isArray(node) ? node.length : m.key, materialise(builder, m.value));
    return tree;
  }
  const path = paths[m.sel % paths.length]!;
  const current = at(tree, path);
  let next: Json | undefined;
  if (m.op === "drop") next = undefined;
  else if (m.op === "replace") next = materialise(builder, m.value);
  else next = m.how === "array" ? [current] : m.how === "object" ? { value: current } : JSON.stringify(current);
  if (path.length === 0) return next === undefined ? {} : next;
  const parent = at(tree, path.slice(0, -1)) as Record<string, Json> | Json[];
  const last = path[path.length - 1]!;
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete (parent as Record<string, Json>)[last as string];
  } else put(parent, last, next);
  return tree;
}

interface Body {
  text: string;
  invalid: boolean;
  longRun: number;
}

/** The tree as JSON text with raw pieces spliced in; invalid when a spliced piece is. */
function serialise(builder: Builder, tree: Json): Body {
  let text = JSON.stringify(tree);
  let invalid = false;
  let longRun = 0;
  for (const [t, raw] of builder.raws) {
    const quoted = `"${t}"`;
    if (!text.includes(quoted)) continue;
    invalid ||= raw.invalid;
    longRun = Math.max(longRun, raw.run);
    text = text.split(quoted).join(raw.text());
  }
  return { text, invalid, longRun };
}

/** Bodies may nest 128 levels of objects and arrays (core/pipeline/body.ts MAX_DEPTH), not more. */
export const MAX_LEVELS = 128;

/** How many levels of objects and arrays a JSON text nests, as parsed (a duplicate key's earlier value is gone); -1 if not JSON. */
function levels(text: string): number {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return -1;
  }
  let max = 0;
  const stack: Array<{ node: unknown; level: number }> = [{ node: value, level: 1 }];
  while (stack.length > 0) {
    const { node, level } = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    max = Math.max(max, level);
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push({ node: child, level: level + 1 });
  }
  return max;
}

/** Where the first string value starts (just after its opening quote), for insertions inside a string. */
function firstStringValue(text: string): number {
  const i = text.search(/:\s*"/);
  return i < 0 ? -1 : text.indexOf("\"", i) + 1;
}

function applyText(builder: Builder, body: Body, m: TextMutation): Body {
  const { text } = body;
  const object = text.trimStart().startsWith("{");
  switch (m.op) {
    case "truncate": {
      // Any strict prefix of a serialised JSON object is not JSON.
      const cut = Math.floor(m.at * text.length);
      return { ...body, text: text.slice(0, cut), invalid: true };
    }
    case "dupKey": {
      if (!object) return body;
      const value = serialise(builder, materialise(builder, m.value) as Json);
      const pair = `${JSON.stringify(m.key)}:${value.text}`;
      const open = text.indexOf("{");
      const close = text.lastIndexOf("}");
      const empty = /^\{\s*\}$/.test(text.slice(open, close + 1));
      const out = m.where === "first"
        ? `${text.slice(0, open + 1)}${pair}${empty ? "" : ","}${text.slice(open + 1)}`
        : `${text.slice(0, close)}${empty ? "" : ","}${pair}${text.slice(close)}`;
      return { text: out, invalid: body.invalid || value.invalid, longRun: Math.max(body.longRun, value.longRun) };
    }
    case "garbage":
      return { ...body, text: m.where === "before" ? m.text + text : text + m.text, invalid: true };
    case "inString": {
      const i = firstStringValue(text);
      if (i <= 0) return body;
      return { ...body, text: text.slice(0, i) + m.insert + text.slice(i), invalid: true };
    }
    case "whitespace":
      // A BOM is not JSON whitespace, but a UTF-8 decoder may drop a leading one: either answer is fine.
      return { ...body, text: m.ws + text + (m.ws === "\ufeff" ? "" : m.ws) };
  }
}

function applyBytes(text: string, m: ByteMutation): Uint8Array {
  if (m.op === "encode") {
    if (m.as === "latin1") return new Uint8Array(Buffer.from(text, "latin1"));
    const le = Buffer.from(text, "utf16le");
    if (m.as === "utf-16be") le.swap16();
    return new Uint8Array(le);
  }
  const bytes = new TextEncoder().encode(text);
  let i = Math.floor(m.at * (bytes.length + 1));
  if (m.where === "string") {
    const j = firstStringValue(text);
    // Byte offset of character j: the text before it, encoded.
    if (j > 0) i = new TextEncoder().encode(text.slice(0, j)).length;
  }
  const out = new Uint8Array(bytes.length + m.seq.length);
  out.set(bytes.subarray(0, i), 0);
  out.set(m.seq, i);
  out.set(bytes.subarray(i), i + m.seq.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Gemini's model travels in the path

/** A path segment for a model name: percent-encoded, lone surrogates too (encodeURIComponent throws on them). */
function segment(model: string): string {
  return [...Buffer.from(model, "utf8")].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");
}

const pathModel: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...MODEL_POOL).map(segment) },
  { weight: 2, arbitrary: nastyString.map(segment) },
  // Malformed percent-encoding, and what a path may hold unencoded.
  { weight: 2, arbitrary: fc.constantFrom("%ZZ", "%", "%E2%82", "%ED%A0%80", "%C0%AF", "%FF", "%00", "", "a:b", "..", "models", "%2e%2e%2f", "gemini-x%3AgenerateContent") },
);

/** A valid Gemini body sent to a path whose model was replaced. */
function pathMutated(endpoint: Endpoint): fc.Arbitrary<Case> {
  return fc.record({ valid: endpoint.valid, model: pathModel, ct: contentType }).map(({ valid, model, ct }) => {
    const path = valid.path.replace(/(\/models\/)[^:]*(:)/, `$1${model}$2`);
    return makeCase(endpoint, path, new TextEncoder().encode(JSON.stringify(valid.body)), ct, "any", "pathModel");
  });
}

// ---------------------------------------------------------------------------------------------
// Cases

const CONTENT_TYPES = [
  null, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
  "application/xml", "application/json; charset=utf-16", "application/json; charset=latin1", "application/octet-stream",
  "application/jsonx", "*/*", "application/json, text/plain", "", "application/json; charset=\"utf-8\"", "APPLICATION/JSON",
];
// (A control character in the header is refused by Bun's HTTP parser before the gateway sees the
// request: the framing test in fuzz.test.ts sends that one over a raw socket.)
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant<string | null>("application/json") },
  { weight: 2, arbitrary: fc.constantFrom<string | null>(...CONTENT_TYPES) },
);

function preview(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 160)).toString("latin1");
  return `${JSON.stringify(head)}${bytes.length > 160 ? `… (${bytes.length} bytes)` : ""}`;
}

function makeCase(endpoint: Endpoint, path: string, bytes: Uint8Array, ct: string | null, expect: Case["expect"], label: string, longRun = 0): Case {
  const shown = preview(bytes);
  return {
    endpoint: endpoint.name, path, bytes, contentType: ct, expect, label, longRun, preview: shown,
    [fc.toStringMethod]: () => `${label} POST ${path} [${ct ?? "no content-type"}] expect ${expect}: ${shown}`,
  };
}

/** Whether a text's top level is not an object (so it cannot be a request body). */
const notObject = (text: string) => !text.trimStart().replace(/^\ufeff/, "").startsWith("{");

let nonceCounter = 0;
const newBuilder = (): Builder => ({ raws: new Map(), nonce: `n${(nonceCounter++).toString(36)}x7Qz` });

/** Mutations of a valid body: tree, then text, then bytes. */
function mutated(endpoint: Endpoint, trees: number, texts: boolean, bytes: boolean): fc.Arbitrary<Case> {
  return fc.record({
    valid: endpoint.valid,
    tree: fc.array(treeMutation, { minLength: trees === 0 ? 0 : 1, maxLength: Math.max(trees, 0) }),
    text: texts ? textMutation.map((m) => [m]) : fc.constant([] as TextMutation[]),
    bytes: bytes ? byteMutation.map((m) => [m]) : fc.constant([] as ByteMutation[]),
    ct: contentType,
  }).map(({ valid, tree, text, bytes: byteMs, ct }) => {
    const builder = newBuilder();
    let body: Json = JSON.parse(JSON.stringify(valid.body)) as Json;
    for (const m of tree) body = applyTree(builder, body, m);
    let out = serialise(builder, body);
    for (const m of text) out = applyText(builder, out, m);
    let invalid = out.invalid || notObject(out.text);
    let raw: Uint8Array = new TextEncoder().encode(out.text);
    for (const m of byteMs) {
      raw = applyBytes(out.text, m);
      // Invalid UTF-8 is not JSON (RFC 8259 §8.1). Re-encoded text may still happen to be UTF-8
      // (Latin-1 of ASCII, or of "Ã©"): then it is judged as the text it now is.
      const decoded = Buffer.from(raw).toString("utf8");
      invalid ||= !Buffer.from(decoded, "utf8").equals(Buffer.from(raw)) || notObject(decoded) || !isJson(decoded);
    }
    if (!invalid && levels(Buffer.from(raw).toString("utf8")) > MAX_LEVELS) invalid = true;
    const label = [...tree.map((m) => m.op), ...text.map((m) => m.op), ...byteMs.map((m) => m.op)].join("+") || "valid";
    const expect = invalid ? "invalid" : label === "valid" && ct === "application/json" ? "valid" : "any";
    return makeCase(endpoint, valid.path, raw, ct, expect, label, out.longRun);
  });
}

/** Random JSON, text and bytes where a body belongs. */
function random(endpoint: Endpoint): fc.Arbitrary<Case> {
  const paths = endpoint.valid.map((v) => v.path);
  const fromText = (label: string) => (t: { path: string; text: string; ct: string | null }) => {
    const bytes = new TextEncoder().encode(t.text);
    return makeCase(endpoint, t.path, bytes, t.ct, notObject(t.text) || !isJson(t.text) ? "invalid" : "any", label);
  };
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ path: paths, text: fc.jsonValue().map((v) => JSON.stringify(v)), ct: contentType }).map(fromText("jsonValue")) },
    { weight: 2, arbitrary: fc.record({ path: paths, text: fc.object().map((v) => JSON.stringify(v) ?? "{}"), ct: contentType }).map(fromText("object")) },
    { weight: 1, arbitrary: fc.record({ path: paths, text: fc.string({ unit: "binary", maxLength: 200 }), ct: contentType }).map(fromText("text")) },
    {
      weight: 2,
      arbitrary: fc.record({ path: paths, bytes: fc.uint8Array({ maxLength: 300 }), ct: contentType }).map(({ path, bytes, ct }) => {
        const decoded = Buffer.from(bytes).toString("utf8");
        const wellFormed = Buffer.from(decoded, "utf8").equals(Buffer.from(bytes));
        return makeCase(endpoint, path, bytes, ct, !wellFormed || notObject(decoded) || !isJson(decoded) ? "invalid" : "any", "bytes");
      }),
    },
  );
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Every kind of case for one endpoint, weighted towards mutations of valid bodies. */
export function cases(endpoint: Endpoint): fc.Arbitrary<Case> {
  return fc.oneof(
    { weight: 2, arbitrary: mutated(endpoint, 0, false, false) },
    { weight: 10, arbitrary: mutated(endpoint, 3, false, false) },
    { weight: 5, arbitrary: mutated(endpoint, 1, true, false) },
    { weight: 2, arbitrary: mutated(endpoint, 0, true, false) },
    { weight: 2, arbitrary: mutated(endpoint, 0, false, true) },
    { weight: 3, arbitrary: random(endpoint) },
    ...(endpoint.dialect === "gemini" ? [{ weight: 2, arbitrary: pathMutated(endpoint) }] : []),
  );
}
