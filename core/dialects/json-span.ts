// Find a top-level key's value in JSON text without re-serialising, so the same-dialect path
// can change the model name and leave every other byte as the client sent it.

/**
 * [start, end) of the value of top-level `key` in a JSON object's text, or undefined. When the key
 * occurs more than once, the last one: JSON.parse (what the gateway decodes and routes on) keeps
 * the last, and so do the upstreams; rewriting the first left the client's own model name in the
 * body sent upstream (found by the T04 fuzzer, test/e2e/fuzz.test.ts).
 */
export function topLevelValueSpan(text: string, key: string): [number, number] | undefined {
  let found: [number, number] | undefined;
  let depth = 0;
  let i = 0;
  const n = text.length;
  let expectKey = false;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const end = stringEnd(text, i);
      if (depth === 1 && expectKey) {
        let j = end;
        while (j < n && isSpace(text.charCodeAt(j))) j++;
        if (text.charCodeAt(j) === 58 /* : */) {
          const name = JSON.parse(text.slice(i, end)) as string;
          j++;
          while (j < n && isSpace(text.charCodeAt(j))) j++;
          if (name === key) found = [j, valueEnd(text, j)];
          i = j;
          expectKey = false;
          continue;
        }
      }
      i = end;
      continue;
    }
    if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      expectKey = depth === 1 && c === 123;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    } else if (c === 44 /* , */ && depth === 1) {
      expectKey = true;
    }
    i++;
  }
  return found;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function stringEnd(text: string, quote: number): number {
  // From quote to quote with indexOf (native, fast over MiB-long strings such as base64 images:
  // the whole body is scanned now that the last key counts); a quote after an odd number of
  // backslashes is escaped.
  let i = quote + 1;
  for (;;) {
    const q = text.indexOf("\"", i);
    if (q < 0) return text.length;
    let b = q - 1;
    while (b > quote && text.charCodeAt(b) === 92 /* \ */) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    i = q + 1;
  }
}

function valueEnd(text: string, start: number): number {
  const c = text.charCodeAt(start);
  if (c === 34) return stringEnd(text, start);
  let depth = 0;
  let i = start;
  while (i < text.length) {
    const d = text.charCodeAt(i);
    if (d === 34) {
      i = stringEnd(text, i);
      continue;
    }
    if (d === 123 || d === 91) depth++;
    else if (d === 125 || d === 93) {
      if (depth === 0) return i;
      depth--;
      if (depth === 0) return i + 1;
    } else if (d === 44 && depth === 0) return i;
    i++;
  }
  return i;
}

/** Replace (or insert) top-level `key`'s value with `json` (already-serialised JSON). */
export function withTopLevelValue(text: string, key: string, json: string): string {
  const span = topLevelValueSpan(text, key);
  if (span) return text.slice(0, span[0]) + json + text.slice(span[1]);
  const open = text.indexOf("{");
  const empty = /^\s*}/.test(text.slice(open + 1));
  return `${text.slice(0, open + 1)}${JSON.stringify(key)}:${json}${empty ? "" : ","}${text.slice(open + 1)}`;
}
