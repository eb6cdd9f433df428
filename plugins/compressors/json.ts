import { textCompressor } from "./text.ts";

// A tool result that is one JSON document (object or array). It is minified, and a long array of
// objects with the same keys keeps its first 3 and last 1 items, the omitted run replaced by
// `{"…":"N more items with the same keys"}`. An item whose string values mention an error or a
// failure, or name a file (`"src/app/main.ts"`: a list of changed or matching files is what the
// agent asked for), is never omitted. Numbers and strings are copied as written (no re-serialisation:
// `1.50`, `1e3` and 20-digit ids stay exactly as they were); kept objects keep all their keys.

const MAX_CHARS = 8_000_000;
const MAX_DEPTH = 256;
const KEEP_HEAD = 3;
const KEEP_TAIL = 1;
/** Arrays shorter than this are left whole: the marker would not save anything. */
const MIN_ITEMS = 8;
const NOTABLE = /error|fail|exception|fatal|panic|denied|invalid/i;
/** A string that is a file path with a directory and an extension (not a URL). */
const FILE_PATH = /^"(?:\.{1,2}\/|\/)?(?:[\w@.-]+\/)+[\w@-][\w@.-]*\.[A-Za-z]\w{0,9}"$/;

type Node =
  | { k: "lit"; raw: string }
  | { k: "arr"; items: Node[] }
  | { k: "obj"; entries: Array<[key: string, value: Node]> };

class Parser {
  i = 0;
  constructor(readonly s: string) {}
  ws() {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 10 || c === 13 || c === 9) this.i++;
      else break;
    }
  }
  string(): string {
    const s = this.s;
    const start = this.i++;
    while (this.i < s.length) {
      const c = s[this.i++];
      if (c === "\\") this.i++;
      else if (c === '"') return s.slice(start, this.i);
    }
    throw new Error("unterminated string");
  }
  value(depth: number): Node {
    if (depth > MAX_DEPTH) throw new Error("too deep");
    this.ws();
    const s = this.s;
    const c = s[this.i];
    if (c === "{") {
      this.i++;
      const entries: Array<[string, Node]> = [];
      this.ws();
      if (s[this.i] === "}") { this.i++; return { k: "obj", entries }; }
      for (;;) {
        this.ws();
        const key = this.string();
        this.ws();
        this.i++; // ':'
        entries.push([key, this.value(depth + 1)]);
        this.ws();
        if (s[this.i++] === "}") return { k: "obj", entries };
      }
    }
    if (c === "[") {
      this.i++;
      const items: Node[] = [];
      this.ws();
      if (s[this.i] === "]") { this.i++; return { k: "arr", items }; }
      for (;;) {
        items.push(this.value(depth + 1));
        this.ws();
        if (s[this.i++] === "]") return { k: "arr", items };
      }
    }
    if (c === '"') return { k: "lit", raw: this.string() };
    const start = this.i;
    while (this.i < s.length && !",]} \t\r\n".includes(s[this.i]!)) this.i++;
    return { k: "lit", raw: s.slice(start, this.i) };
  }
}

const keysOf = (node: Node) => (node.k === "obj" ? node.entries.map(([k]) => k).sort().join("\u0000") : undefined);

function notable(node: Node): boolean {
  if (node.k === "lit") return node.raw.startsWith('"') && (NOTABLE.test(node.raw) || FILE_PATH.test(node.raw));
  if (node.k === "arr") return node.items.some(notable);
  return node.entries.some(([, v]) => notable(v));
}

const marker = (n: number) => `{"…":"${n} more item${n === 1 ? "" : "s"} with the same keys"}`;

function write(node: Node, out: string[]): void {
  if (node.k === "lit") {
    out.push(node.raw);
    return;
  }
  if (node.k === "obj") {
    out.push("{");
    node.entries.forEach(([key, value], i) => {
      if (i > 0) out.push(",");
      out.push(key, ":");
      write(value, out);
    });
    out.push("}");
    return;
  }
  const items = node.items;
  const shape = items.length >= MIN_ITEMS ? keysOf(items[0]!) : undefined;
  const uniform = shape !== undefined && items.every((item) => keysOf(item) === shape);
  out.push("[");
  let first = true;
  const emit = (piece: () => void) => {
    if (!first) out.push(",");
    first = false;
    piece();
  };
  if (!uniform) {
    for (const item of items) emit(() => write(item, out));
  } else {
    let omitted = 0;
    items.forEach((item, i) => {
      const keep = i < KEEP_HEAD || i >= items.length - KEEP_TAIL || notable(item);
      if (!keep) {
        omitted++;
        return;
      }
      if (omitted > 0) emit(() => out.push(marker(omitted)));
      omitted = 0;
      emit(() => write(item, out));
    });
  }
  out.push("]");
}

export function compressJson(text: string): string | undefined {
  if (text.length > MAX_CHARS) return undefined;
  const trimmed = text.trim();
  if (!(trimmed.startsWith("{") || trimmed.startsWith("["))) return undefined;
  try {
    JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  let root: Node;
  try {
    root = new Parser(trimmed).value(0);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  write(root, out);
  const result = out.join("");
  return result.length < text.length ? result : undefined;
}

export default textCompressor("json", ["tool-results"], compressJson);
