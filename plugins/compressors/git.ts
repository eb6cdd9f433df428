import { textCompressor } from "./text.ts";

// Git output: `git diff` keeps file and hunk headers and changed lines, shrinks long unchanged
// context to one line either side of a change, and folds lockfile/minified/binary diffs to one
// line with their +/- counts; `git status` drops the "(use git …)" hints and groups many untracked
// files by directory (`dir/{a,b,c}`, every name kept); `git log` becomes one line per commit (short hash, subject).

const MAX_LINES = 200_000;
const LOCKFILE = /(?:^|\/)(?:package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|bun\.lockb?|Cargo\.lock|Gemfile\.lock|composer\.lock|poetry\.lock|Pipfile\.lock|uv\.lock|go\.sum|[^/]*\.lock|[^/]*\.min\.(?:js|css)|[^/]*\.map)$/;

function compressDiff(lines: string[]): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  let changed = false;
  while (i < lines.length && !lines[i]!.startsWith("diff --git ")) out.push(lines[i++]!);
  while (i < lines.length) {
    // One file: from `diff --git` to the next one.
    const start = i++;
    while (i < lines.length && !lines[i]!.startsWith("diff --git ")) i++;
    const file = lines.slice(start, i);
    const header = file[0]!;
    const path = /^diff --git a\/(.*?) b\/(.*)$/.exec(header)?.[2] ?? header;
    const binary = file.some((l) => l.startsWith("Binary files ") || l === "GIT binary patch");
    if (binary || LOCKFILE.test(path)) {
      let plus = 0, minus = 0;
      let inHunk = false;
      for (const l of file) {
        if (l.startsWith("@@")) inHunk = true;
        else if (inHunk && l.startsWith("+")) plus++;
        else if (inHunk && l.startsWith("-")) minus++;
      }
      out.push(header);
      out.push(binary ? `[… binary diff of ${path} omitted]` : `[… generated/lock file ${path}: +${plus} -${minus} lines omitted]`);
      if (file.length > 2) changed = true;
      continue;
    }
    let j = 0;
    while (j < file.length && !file[j]!.startsWith("@@")) out.push(file[j++]!);
    while (j < file.length) {
      if (file[j]!.startsWith("@@")) { out.push(file[j++]!); continue; }
      if (file[j]!.startsWith(" ") || file[j] === "") {
        // A run of context lines: keep one either side of a change.
        const runStart = j;
        while (j < file.length && (file[j]!.startsWith(" ") || file[j] === "") && !file[j]!.startsWith("@@")) j++;
        const run = file.slice(runStart, j);
        const before = runStart > 0 && !file[runStart - 1]!.startsWith("@@");
        const after = j < file.length && !file[j]!.startsWith("@@");
        const keepHead = before ? 1 : 0;
        const keepTail = after ? 1 : 0;
        if (run.length > keepHead + keepTail + 1) {
          out.push(...run.slice(0, keepHead));
          out.push(`[… ${run.length - keepHead - keepTail} unchanged lines]`);
          out.push(...run.slice(run.length - keepTail));
          changed = true;
        } else out.push(...run);
        continue;
      }
      out.push(file[j++]!);
    }
  }
  return changed ? out : undefined;
}

const HINT = /^\s+\(use "git [^"]*"(?: (?:to|or|and)[^)]*)?\)\s*$|^\s+\(use "git .*\)\s*$/;

/** Untracked paths grouped by directory as `dir/{a,b,c}`: shorter, and every path still named. */
function groupPaths(paths: string[], indent: string): string[] {
  const byDir = new Map<string, string[]>();
  for (const p of paths) {
    const slash = p.replace(/\/$/, "").lastIndexOf("/");
    const dir = slash >= 0 ? p.slice(0, slash + 1) : "";
    const list = byDir.get(dir) ?? [];
    list.push(p);
    byDir.set(dir, list);
  }
  const out: string[] = [];
  for (const [dir, list] of byDir) {
    // A name with a comma or brace would make the group ambiguous: such paths stay one a line.
    const plain = list.filter((p) => !/[,{}]/.test(p.slice(dir.length)));
    if (dir === "" || plain.length <= 3) for (const p of list) out.push(`${indent}${p}`);
    else {
      out.push(`${indent}${dir}{${plain.map((p) => p.slice(dir.length)).join(",")}}  [${plain.length} untracked files]`);
      for (const p of list) if (!plain.includes(p)) out.push(`${indent}${p}`);
    }
  }
  return out;
}

function compressStatus(lines: string[]): string[] | undefined {
  const out: string[] = [];
  let changed = false;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (HINT.test(line)) { changed = true; i++; continue; }
    if (line === "Untracked files:") {
      out.push(line);
      i++;
      const files: string[] = [];
      while (i < lines.length && (HINT.test(lines[i]!) || lines[i] === "" && files.length === 0)) { i++; changed = true; }
      while (i < lines.length && /^\t\S/.test(lines[i]!)) files.push(lines[i++]!.slice(1));
      if (files.length > 10) { out.push(...groupPaths(files, "\t")); changed = true; } else out.push(...files.map((f) => `\t${f}`));
      continue;
    }
    out.push(line);
    i++;
  }
  return changed ? out : undefined;
}

function compressPorcelain(lines: string[]): string[] | undefined {
  const untracked = lines.filter((l) => l.startsWith("?? ")).map((l) => l.slice(3));
  if (untracked.length <= 10) return undefined;
  const out = lines.filter((l) => !l.startsWith("?? "));
  out.push(...groupPaths(untracked, "?? "));
  return out;
}

function compressLog(lines: string[]): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  let dropped = 0;
  while (i < lines.length && !/^commit [0-9a-f]{7,40}\b/.test(lines[i]!)) out.push(lines[i++]!);
  while (i < lines.length) {
    const m = /^commit ([0-9a-f]{7,40})(.*)$/.exec(lines[i]!);
    if (!m) { out.push(lines[i++]!); continue; }
    i++;
    const meta: string[] = [];
    while (i < lines.length && lines[i] !== "" && !/^ {4}/.test(lines[i]!) && !/^commit [0-9a-f]{7,40}\b/.test(lines[i]!)) meta.push(lines[i++]!);
    const body: string[] = [];
    while (i < lines.length && !/^commit [0-9a-f]{7,40}\b/.test(lines[i]!)) body.push(lines[i++]!);
    const text = body.filter((l) => l.trim() !== "");
    const subject = text.find((l) => /^ {4}/.test(l))?.trim() ?? "";
    // Lines of a --stat or --name-status listing after the message are kept (they are paths).
    const rest = text.filter((l) => !/^ {4}/.test(l));
    const decorate = m[2]!.trim();
    out.push(`${m[1]!.slice(0, 10)} ${subject}${decorate ? ` ${decorate}` : ""}`);
    out.push(...rest);
    dropped += meta.length + text.length - rest.length - 1;
  }
  if (dropped <= 0) return undefined;
  out.push(`[… git log condensed to one line per commit: authors, dates and message bodies omitted]`);
  return out;
}

export function compressGit(text: string): string | undefined {
  const lines = text.split("\n");
  if (lines.length < 8 || lines.length > MAX_LINES) return undefined;
  let out: string[] | undefined;
  if (lines.some((l) => l.startsWith("diff --git ")) && lines.some((l) => l.startsWith("@@ ") || l.startsWith("Binary files "))) out = compressDiff(lines);
  else if (lines.filter((l) => /^commit [0-9a-f]{40}\b/.test(l)).length >= 2 && lines.some((l) => /^(Author|Date):\s/.test(l))) out = compressLog(lines);
  else if (lines.some((l) => /^On branch \S|^HEAD detached at |^Changes (not staged for commit|to be committed):$|^Untracked files:$/.test(l))) out = compressStatus(lines);
  else if (lines.filter((l) => l !== "").every((l) => /^(?:[ MADRCUT?!]{2} \S|## \S)/.test(l))) out = compressPorcelain(lines);
  return out ? out.join("\n") : undefined;
}

export default textCompressor("git", ["tool-results"], compressGit);
