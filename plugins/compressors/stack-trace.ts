import { textCompressor } from "./text.ts";

// Stack traces (JavaScript/Node, Python, Java/JVM, Go, Rust): the error message and the frames in
// the user's code stay; runs of framework/runtime frames (node_modules, node:internal,
// site-packages, the JDK, Go's runtime, Rust's std) become `[… N frames in <lib> omitted]`; a
// trace repeated verbatim is kept once with a count.

const MAX_LINES = 200_000;

const FRAME_LINE = /^\s+(?:at\s|File "|\[… \d+ frames|\d+: )|^\t\S.*\.go:\d+/;

interface Frame { start: number; end: number; lib?: string } // lines [start, end); lib if not user code

const JAVA_LIB = /^(?:java|javax|jdk|sun|com\.sun|kotlin|kotlinx|scala|org\.springframework|org\.junit|org\.apache|org\.hibernate|org\.gradle|org\.eclipse|io\.netty|reactor|io\.micronaut|io\.quarkus|com\.google|com\.fasterxml|ch\.qos|junit|net\.bytebuddy)\./;

function jsLib(line: string): string | undefined {
  const at = Math.max(line.lastIndexOf("node_modules/"), line.lastIndexOf("node_modules\\"));
  const nm = at >= 0 ? /^node_modules[\\/]((?:@[^\\/\s]+[\\/])?[^\\/\s:)]+)/.exec(line.slice(at)) : null;
  if (nm) return nm[1]!.replace("\\", "/");
  if (/\(?node:|\(internal\/|^\s*at\s+internal\//.test(line)) return "node internals";
  if (/\(<anonymous>\)\s*$|\(native\)\s*$/.test(line)) return "runtime";
  if (/\b(?:bun:|bun-internal|\[native code\])/.test(line)) return "runtime";
  return undefined;
}

function pyLib(path: string): string | undefined {
  const sp = /(?:site|dist)-packages[\\/]([^\\/]+)/.exec(path);
  if (sp) return sp[1]!.replace(/\.py$/, "");
  if (/^<frozen /.test(path) || /[\\/]lib[\\/]python\d(?:\.\d+)?[\\/]/.test(path)) return "python stdlib";
  return undefined;
}

/** Every stack frame in the text, with how many lines it spans and whether it is library code. */
function frames(lines: string[]): Frame[] {
  const out: Frame[] = [];
  let mode: "" | "go" | "rust" = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > 2000) continue;
    if (/^goroutine \d+ \[/.test(line)) { mode = "go"; continue; }
    if (/^stack backtrace:$/.test(line)) { mode = "rust"; continue; }
    if (line.trim() === "") { if (mode === "go") continue; }
    if (mode === "go" && /^\S.*(?:\(.*\)| in goroutine \d+)$/.test(line) && i + 1 < lines.length && /^\t\S.*:\d+(?: \+0x[0-9a-f]+)?$/.test(lines[i + 1]!)) {
      const fn = line.replace(/^created by /, "").replace(/ in goroutine \d+$/, "");
      const file = lines[i + 1]!;
      const lib = /^(?:runtime|testing|net|net\/http|internal\/[\w/]+|sync|reflect|syscall|os)\./.test(fn) || /\/usr\/local\/go\/|\/go\/src\/|[\\/]pkg[\\/]mod[\\/]/.test(file)
        ? (/[\\/]pkg[\\/]mod[\\/]([^@\s]+)/.exec(file)?.[1] ?? "go stdlib") : undefined;
      out.push({ start: i, end: i + 2, lib });
      i++;
      continue;
    }
    if (mode === "rust" && /^\s+\d+: \S/.test(line)) {
      let end = i + 1;
      if (end < lines.length && /^\s+at \S.*:\d+(?::\d+)?$/.test(lines[end]!)) end++;
      const fn = line.replace(/^\s+\d+: /, "");
      const at = end > i + 1 ? lines[i + 1]! : "";
      const lib = /^(?:std|core|alloc|tokio|futures|__rust|rust_begin_unwind|<alloc|<core|<std|backtrace)|^__libc|^_start$|^main$|^<unknown>$/.test(fn) || /\/rustc\/|[\\/]\.cargo[\\/]registry/.test(at)
        ? (/[\\/]\.cargo[\\/]registry[\\/]src[\\/][^\\/]+[\\/]([^\\/]+)/.exec(at)?.[1] ?? "rust std") : undefined;
      out.push({ start: i, end, lib });
      i = end - 1;
      continue;
    }
    const py = /^\s+File "([^"]+)", line \d+/.exec(line);
    if (py) {
      const indent = /^\s*/.exec(line)![0].length;
      let end = i + 1;
      while (end < lines.length && /^\s*/.exec(lines[end]!)![0].length > indent && lines[end]!.trim() !== "" && !/^\s+File "/.test(lines[end]!)) end++;
      out.push({ start: i, end, lib: pyLib(py[1]!) });
      i = end - 1;
      continue;
    }
    const java = /^\s+at\s+(?:[\w.$-]+(?:@[\w.-]+)?\/)?([\w$.<>]+)\([^()]*\)\s*$/.exec(line);
    if (java && !/\s\(/.test(line.trim().slice(3))) {
      const cls = java[1]!;
      const lib = JAVA_LIB.test(cls) || /^\s+at\s+(?:java\.base|jdk\.[\w.]+)\//.test(line) ? cls.split(".").slice(0, 2).join(".") : undefined;
      out.push({ start: i, end: i + 1, lib });
      continue;
    }
    if (/^\s+at\s+\S/.test(line) && mode !== "rust") {
      out.push({ start: i, end: i + 1, lib: jsLib(line) });
      continue;
    }
  }
  return out;
}

export function compressStackTrace(text: string): string | undefined {
  const lines = text.split("\n");
  if (lines.length < 4 || lines.length > MAX_LINES) return undefined;
  const all = frames(lines);
  if (all.length < 3) return undefined;
  // Runs of consecutive library frames (adjacent in the text) collapse to one marker. A trace's
  // first (JS/Java: where it was thrown) frame is kept even in library code, and so is Python's
  // last (innermost) one.
  const replace = new Map<number, { end: number; marker: string }>();
  let k = 0;
  while (k < all.length) {
    if (!all[k]!.lib) { k++; continue; }
    let e = k;
    while (e + 1 < all.length && all[e + 1]!.lib && all[e + 1]!.start === all[e]!.end) e++;
    let from = k, to = e;
    const first = all[from]!;
    const isPython = /^\s+File "/.test(lines[first.start]!);
    const startsTrace = from === 0 || all[from - 1]!.end !== first.start;
    const endsTrace = to === all.length - 1 || all[to + 1]!.start !== all[to]!.end;
    if (!isPython && startsTrace && !/^\s+\d+: /.test(lines[first.start]!)) from++;
    if (isPython && endsTrace) to--;
    const n = to - from + 1;
    if (n >= 2) {
      const libs = [...new Set(all.slice(from, to + 1).map((f) => f.lib!))];
      const where = libs.length <= 3 ? libs.join(", ") : `${libs.slice(0, 3).join(", ")} and ${libs.length - 3} more`;
      const indent = /^\s*/.exec(lines[all[from]!.start]!)![0];
      replace.set(all[from]!.start, { end: all[to]!.end, marker: `${indent}[… ${n} frames in ${where} omitted]` });
    }
    k = e + 1;
  }
  const collapsed: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const r = replace.get(i);
    if (r) { collapsed.push(r.marker); i = r.end - 1; continue; }
    collapsed.push(lines[i]!);
  }
  // Identical traces, repeated: split into paragraphs and keep each distinct multi-line one once.
  const out: string[] = [];
  const seen = new Map<string, { index: number; count: number; head: string }>();
  let deduped = false;
  let p = 0;
  while (p < collapsed.length) {
    let q = p;
    while (q < collapsed.length && collapsed[q] !== "") q++;
    const para = collapsed.slice(p, q);
    const key = para.join("\n");
    const isTrace = para.length >= 3 && para.some((l) => FRAME_LINE.test(l));
    const prior = isTrace ? seen.get(key) : undefined;
    if (prior) {
      prior.count++;
      out[prior.index] = `${prior.head}  [same trace ×${prior.count}]`;
      deduped = true;
    } else {
      if (isTrace) seen.set(key, { index: out.length, count: 1, head: para[0]! });
      out.push(...para);
      if (q < collapsed.length) out.push("");
    }
    p = q + 1;
  }
  while (out.length > 0 && out.at(-1) === "" && collapsed.at(-1) !== "") out.pop();
  if (replace.size === 0 && !deduped) return undefined;
  return out.join("\n");
}

export default textCompressor("stack-trace", ["tool-results"], compressStackTrace);
