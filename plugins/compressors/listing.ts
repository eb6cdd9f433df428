import { textCompressor } from "./text.ts";

// Directory listings in tool results: `ls -l` (and `ls -lR`), `find` / `rg --files` path lists,
// and `tree`. Vendored or generated directories (node_modules, .git, dist, …) collapse into one
// line with a count; many files of one directory share their directory's path
// (`src/{a.ts,b.ts}`), every one of them still named; `ls -l` loses its mode/links/owner/group/date columns when it is long
// (names and sizes stay). Anything that is not clearly a listing is left alone.

const MAX_CHARS = 4_000_000;
const MAX_LINES = 200_000;
/** A heavy directory is collapsed only when it hides at least this many entries. */
const MIN_COLLAPSE = 3;
/** `ls -l` drops its columns only when it lists at least this many entries. */
const MIN_LS_ENTRIES = 20;
/** A path list or tree must have at least this many lines to be worth looking at. */
const MIN_PATHS = 20;

const HEAVY = new Set([
  "node_modules", ".git", "dist", "build", "target", "__pycache__", ".venv", "venv", ".next", ".nuxt",
  ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".gradle", ".turbo", ".parcel-cache", "bower_components", "coverage",
]);

const lastSegment = (path: string) => {
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
};

/** The path up to and including its first heavy segment, or undefined. */
function heavyRoot(path: string): string | undefined {
  const segments = path.split("/");
  for (let i = 0; i < segments.length; i++) {
    if (HEAVY.has(segments[i]!)) return segments.slice(0, i + 1).join("/");
  }
  return undefined;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// ---- ls -l ---------------------------------------------------------------------------------

const DATE = String.raw`(?:[A-Z][a-z]{2}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})|\d{1,2}\s+[A-Z][a-z]{2}\.?\s+(?:\d{1,2}:\d{2}|\d{4})|\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[+-]\d{4})?)?)`;
const LS_ENTRY = new RegExp(String.raw`^([-dlcbpsD])[-rwxsStTl]{9}[.@+]?\s+\d+\s+(?:\S+\s+){1,2}(\d+,\s*\d+|[\d.,]+[KMGTPEZYB]?)\s+${DATE}\s(.+)$`);
const LS_TOTAL = /^total\s+[\d.,]+[KMGTPEZY]?$/;
const LS_HEADER = /^(\S.*):$/;

function compressLs(lines: string[]): string | undefined {
  let entries = 0;
  let other = 0;
  const parsed = lines.map((line) => {
    if (line.trim() === "") return { kind: "blank" as const, line };
    const m = LS_ENTRY.exec(line);
    if (m) {
      entries++;
      return { kind: "entry" as const, line, type: m[1]!, size: m[2]!, name: m[3]! };
    }
    if (LS_TOTAL.test(line)) return { kind: "total" as const, line };
    const h = LS_HEADER.exec(line);
    if (h) return { kind: "header" as const, line, dir: h[1]! };
    other++;
    return { kind: "other" as const, line };
  });
  // An `ls -l` and nothing else (allow a stray line or two, such as an error from ls itself).
  if (entries < 5 || other > Math.max(2, entries * 0.05)) return undefined;

  // `ls -lR`: sections under a heavy directory collapse into one marker per heavy root.
  type Section = { dir?: string; root?: string; entries: number };
  const sectionOf: number[] = [];
  const sections: Section[] = [{ entries: 0 }];
  for (const p of parsed) {
    if (p.kind === "header") sections.push({ dir: p.dir, root: heavyRoot(p.dir), entries: 0 });
    else if (p.kind === "entry") sections.at(-1)!.entries++;
    sectionOf.push(sections.length - 1);
  }
  const hidden = new Map<string, { entries: number; dirs: number }>();
  for (const s of sections) {
    if (!s.root) continue;
    const h = hidden.get(s.root) ?? { entries: 0, dirs: 0 };
    h.entries += s.entries;
    h.dirs++;
    hidden.set(s.root, h);
  }
  for (const [root, h] of hidden) if (h.entries < MIN_COLLAPSE) hidden.delete(root);

  const dropColumns = entries >= MIN_LS_ENTRIES;
  const out: string[] = [];
  if (dropColumns) out.push("[ls -l: mode/links/owner/group/date columns omitted; name  size]");
  const announced = new Set<string>();
  for (let i = 0; i < parsed.length; i++) {
    const p = parsed[i]!;
    const section = sections[sectionOf[i]!]!;
    if (section.root && hidden.has(section.root)) {
      if (!announced.has(section.root)) {
        announced.add(section.root);
        const h = hidden.get(section.root)!;
        out.push(`${section.root}/:  [… ${plural(h.entries, "entry", "entries")} in ${plural(h.dirs, "directory", "directories")} under ${section.root}/ omitted]`, "");
      }
      continue;
    }
    if (p.kind === "entry" && dropColumns) {
      if (p.type === "d") out.push(p.name.endsWith("/") ? p.name : `${p.name}/`);
      else if (p.type === "l") out.push(p.name);
      else if (p.type === "-") out.push(`${p.name}  ${p.size}`);
      else out.push(`${p.name}  (${p.type})`);
    } else if (p.kind === "total" && dropColumns) {
      continue;
    } else {
      out.push(p.line);
    }
  }
  // Blank lines left doubled by dropped sections.
  const text = out.join("\n").replace(/\n{3,}/g, "\n\n");
  return text;
}

// ---- find / path lists -------------------------------------------------------------------

const PATH_LINE = /^[^\s:*?"<>|;{}=][^\t:*?"<>|;{}=]*$/;

function compressPaths(lines: string[]): string | undefined {
  const paths = lines.filter((l) => l !== "");
  if (paths.length < MIN_PATHS) return undefined;
  let withSlash = 0;
  let withSpace = 0;
  for (const p of paths) {
    if (p.length > 4096 || !PATH_LINE.test(p) || p.includes("  ") || p.endsWith(".")  && p !== "." && p !== "..") return undefined;
    if (p.includes("/")) withSlash++;
    if (p.includes(" ")) withSpace++;
  }
  if (withSlash < paths.length * 0.6 || withSpace > paths.length * 0.2) return undefined;

  // Heavy roots, and how many paths each hides (besides the root itself).
  const rootOf = paths.map((p) => heavyRoot(p.endsWith("/") ? p.slice(0, -1) : p));
  const hiddenCount = new Map<string, number>();
  paths.forEach((p, i) => {
    const root = rootOf[i];
    if (root !== undefined && p !== root && p !== `${root}/`) hiddenCount.set(root, (hiddenCount.get(root) ?? 0) + 1);
  });
  const collapsed = (root: string | undefined) => root !== undefined && (hiddenCount.get(root) ?? 0) >= MIN_COLLAPSE;

  // Directories implied by a deeper path are not listed on their own.
  const implied = new Set<string>();
  paths.forEach((p, i) => {
    if (collapsed(rootOf[i])) {
      const root = rootOf[i]!;
      for (let k = root.lastIndexOf("/"); k > 0; k = root.lastIndexOf("/", k - 1)) implied.add(root.slice(0, k));
      return;
    }
    const clean = p.endsWith("/") ? p.slice(0, -1) : p;
    for (let k = clean.lastIndexOf("/"); k > 0; k = clean.lastIndexOf("/", k - 1)) {
      const dir = clean.slice(0, k);
      if (implied.has(dir)) break;
      implied.add(dir);
    }
  });

  type Unit = { kind: "heavy"; root: string } | { kind: "group"; dir: string; names: string[] } | { kind: "path"; path: string };
  const units: Unit[] = [];
  const byKey = new Map<string, Unit>();
  paths.forEach((p, i) => {
    const root = rootOf[i];
    if (collapsed(root)) {
      if (!byKey.has(`h:${root}`)) {
        const unit: Unit = { kind: "heavy", root: root! };
        byKey.set(`h:${root}`, unit);
        units.push(unit);
      }
      return;
    }
    const clean = p.endsWith("/") ? p.slice(0, -1) : p;
    if (implied.has(clean) || clean === "" || clean === ".") return;
    const slash = clean.lastIndexOf("/");
    if (slash <= 0) {
      units.push({ kind: "path", path: p });
      return;
    }
    const dir = clean.slice(0, slash);
    const key = `g:${dir}`;
    let unit = byKey.get(key);
    if (!unit) {
      unit = { kind: "group", dir, names: [] };
      byKey.set(key, unit);
      units.push(unit);
    }
    (unit as { names: string[] }).names.push(p.slice(slash + 1));
  });

  const out: string[] = [];
  for (const unit of units) {
    if (unit.kind === "path") out.push(unit.path);
    else if (unit.kind === "heavy") out.push(`${unit.root}/  [… ${hiddenCount.get(unit.root)} more paths under ${lastSegment(unit.root)}/ omitted]`);
    else if (unit.names.length === 1) out.push(`${unit.dir}/${unit.names[0]}`);
    // Every name stays, however many: a file the agent looks for may be any of them.
    else out.push(`${unit.dir}/{${unit.names.join(",")}}`);
  }
  return out.join("\n");
}

// ---- tree ----------------------------------------------------------------------------------

const TREE_GLYPH = /(?:├── |└── |\|-- |`-- )/;

function compressTree(lines: string[]): string | undefined {
  const nonblank = lines.filter((l) => l.trim() !== "");
  if (nonblank.length < MIN_PATHS) return undefined;
  const glyphAt = lines.map((l) => {
    const m = TREE_GLYPH.exec(l);
    return m ? m.index : -1;
  });
  const withGlyph = glyphAt.filter((g) => g >= 0).length;
  if (withGlyph < nonblank.length * 0.8) return undefined;
  const out: string[] = [];
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const g = glyphAt[i]!;
    out.push(line);
    if (g < 0) continue;
    const name = line.slice(g + 4).replace(/\/$/, "");
    if (!HEAVY.has(name)) continue;
    let j = i + 1;
    while (j < lines.length && glyphAt[j]! > g) j++;
    const hidden = j - i - 1;
    if (hidden < MIN_COLLAPSE) continue;
    out[out.length - 1] = `${line}  [… ${hidden} entries under ${name}/ omitted]`;
    i = j - 1;
    changed = true;
  }
  return changed ? out.join("\n") : undefined;
}

export function compressListing(text: string): string | undefined {
  if (text.length > MAX_CHARS) return undefined;
  const normalized = text.replace(/\r\n/g, "\n");
  const trailingNewline = normalized.endsWith("\n");
  const lines = (trailingNewline ? normalized.slice(0, -1) : normalized).split("\n");
  if (lines.length > MAX_LINES) return undefined;
  const first = lines.find((l) => l.trim() !== "") ?? "";
  let out: string | undefined;
  if (TREE_GLYPH.test(lines.slice(0, 5).join("\n"))) out = compressTree(lines);
  else if (LS_ENTRY.test(first) || LS_TOTAL.test(first) || LS_HEADER.test(first)) out = compressLs(lines);
  else out = compressPaths(lines);
  if (out === undefined) return undefined;
  return trailingNewline ? `${out}\n` : out;
}

export default textCompressor("listing", ["tool-results"], compressListing);
