import { textCompressor } from "./text.ts";

// Linter output (eslint stylish/unix/compact, biome, ruff, pylint, flake8): when one rule fires
// many times its issues are grouped under the rule with a count, each still listed by
// file:line:col (with the names its message quotes); the verbose bodies of auto-fix suggestions
// (biome's fix diffs, ruff's code frames for grouped issues) go. Summary lines stay.

const MAX_LINES = 200_000;
const GROUP_AT = 5; // a rule seen this many times or more is grouped

interface Issue { index: number; file: string; pos: string; severity: string; message: string; rule: string; extra: number }

const STYLISH = /^\s+(\d+:\d+)\s+(error|warning|warn|info)\s+(.+?)\s{2,}(@?[\w/-]+)\s*$/;
const LOCATED = /^(\S[^\s:]*):(\d+:\d+):?\s+(.*)$/;
const RUFF = /^([A-Z]{1,4}\d{2,4})\s+(?:\[\*\]\s+)?(.*)$/;
const PYLINT = /^([CRWEFI]\d{4}):\s+(.*?)\s+\(([\w-]+)\)\s*$/;
const UNIX = /^(.*?)\s+\[(Error|Warning)\/([@\w/-]+)\]\s*$/;
const BIOME_HEADER = /^(\S[^\s:]*):(\d+:\d+)\s+(lint\/[\w/]+)(?:\s+FIXABLE)?\s+━+\s*$/;
const PATHLINE = /^(?:[A-Za-z]:)?[\w./\\@~+-]+\.[A-Za-z]\w*\s*$/;
const SUMMARY = /^(?:✖|✕|×)?\s*\d+ problems?\b|^Found \d+ (?:errors?|diagnostics?)|^\[\*\] \d+ fixable|^Your code has been rated|^Checked \d+ files?|^\s*\d+ errors? and \d+ warnings? potentially fixable|^All checks passed/;

const quoted = (s: string) => (s.match(/`[^`]{1,80}`|'[^']{1,80}'|"[^"]{1,80}"/g) ?? []).join(" ");

export function compressLint(text: string): string | undefined {
  const lines = text.split("\n");
  if (lines.length < 5 || lines.length > MAX_LINES) return undefined;
  const issues: Issue[] = [];
  const skip = new Set<number>(); // indices of lines to drop outright
  let file = "";
  let fixBodies = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length > 2000) continue;
    let m: RegExpExecArray | null;
    if ((m = STYLISH.exec(line)) && file) {
      issues.push({ index: i, file, pos: m[1]!, severity: m[2]!, message: m[3]!, rule: m[4]!, extra: 0 });
      continue;
    }
    if ((m = BIOME_HEADER.exec(line))) {
      // A biome diagnostic: header, message, code frame, then maybe a fix suggestion with a diff.
      const issue: Issue = { index: i, file: m[1]!, pos: m[2]!, severity: "", message: "", rule: m[3]!, extra: 0 };
      let j = i + 1;
      while (j < lines.length && !BIOME_HEADER.test(lines[j]!) && !SUMMARY.test(lines[j]!)) {
        const l = lines[j]!;
        if (!issue.message && /^\s+[✖!×ℹ]\s+\S/.test(l)) issue.message = l.trim().replace(/^[✖!×ℹ]\s+/, "");
        if (/^\s+ℹ\s+(?:Safe|Unsafe) fix\b/.test(l)) {
          // Keep the fix's one-line description, drop its diff.
          let k = j + 1;
          while (k < lines.length && !BIOME_HEADER.test(lines[k]!) && !SUMMARY.test(lines[k]!) && !/^\s+[✖!×ℹ]\s+\S/.test(lines[k]!)) k++;
          while (k - 1 > j && lines[k - 1]!.trim() === "") k--;
          for (let d = j + 1; d < k; d++) skip.add(d);
          if (k - j - 1 > 0) fixBodies += k - j - 1;
          j = k;
          continue;
        }
        j++;
      }
      issue.extra = j - i - 1;
      issues.push(issue);
      i = j - 1;
      continue;
    }
    if ((m = LOCATED.exec(line))) {
      const [, f, pos, rest] = m;
      let r: RegExpExecArray | null;
      let issue: Issue | undefined;
      if ((r = PYLINT.exec(rest!))) issue = { index: i, file: f!, pos: pos!, severity: r[1]!, message: r[2]!, rule: `${r[1]} ${r[3]}`, extra: 0 };
      else if ((r = RUFF.exec(rest!))) issue = { index: i, file: f!, pos: pos!, severity: "", message: r[2]!, rule: r[1]!, extra: 0 };
      else if ((r = UNIX.exec(rest!))) issue = { index: i, file: f!, pos: pos!, severity: r[2]!.toLowerCase(), message: r[1]!, rule: r[3]!, extra: 0 };
      if (issue) {
        // Ruff/flake8 "full" output: an indented code frame and "= help:" under the issue.
        let j = i + 1;
        while (j < lines.length && (/^\s+\S/.test(lines[j]!) || (lines[j] === "" && j + 1 < lines.length && /^\s+[|=]/.test(lines[j + 1]!)))) j++;
        issue.extra = j - i - 1;
        issues.push(issue);
        i = j - 1;
        continue;
      }
    }
    if (PATHLINE.test(line) && !/^\s/.test(line) && i + 1 < lines.length && STYLISH.test(lines[i + 1]!)) { file = line.trim(); continue; }
  }
  if (issues.length < 3) return undefined;
  const byRule = new Map<string, Issue[]>();
  for (const issue of issues) {
    const list = byRule.get(issue.rule) ?? [];
    list.push(issue);
    byRule.set(issue.rule, list);
  }
  const grouped = new Set<Issue>();
  for (const list of byRule.values()) if (list.length >= GROUP_AT) for (const issue of list) grouped.add(issue);
  if (grouped.size === 0 && fixBodies === 0) return undefined;

  const drop = new Set(skip);
  for (const issue of grouped) for (let d = issue.index; d <= issue.index + issue.extra; d++) drop.add(d);
  // A stylish file header whose issues all went into groups goes too (the groups name the file).
  let lastIssue = 0;
  for (const x of issues) lastIssue = Math.max(lastIssue, x.index + x.extra);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!drop.has(i)) {
      const line = lines[i]!;
      if (PATHLINE.test(line) && i + 1 < lines.length && drop.has(i + 1) && STYLISH.test(lines[i + 1]!)) {
        let j = i + 1;
        while (j < lines.length && STYLISH.test(lines[j]!) && drop.has(j)) j++;
        if (!(j < lines.length && STYLISH.test(lines[j]!))) { continue; }
      }
      if (line.trim() === "" && out.length > 0 && out.at(-1)!.trim() === "") continue;
      out.push(line);
    }
    if (i === lastIssue) {
      for (const [rule, list] of byRule) {
        if (list.length < GROUP_AT) continue;
        const first = list[0]!;
        const sev = [...new Set(list.map((x) => x.severity).filter((s) => s))].join("/");
        out.push(`[${rule}: ${list.length}×${sev ? ` ${sev}` : ""}, e.g. ${first.message}]`);
        const byFile = new Map<string, string[]>();
        const varied = list.some((x) => x.message !== first.message);
        for (const x of list) {
          const at = byFile.get(x.file) ?? [];
          const q = varied ? quoted(x.message) : "";
          at.push(q ? `${x.pos} ${q}` : x.pos);
          byFile.set(x.file, at);
        }
        for (const [f, at] of byFile) out.push(`  ${f}: ${at.join(", ")}`);
      }
      if (fixBodies > 0) out.push(`[… ${fixBodies} lines of auto-fix suggestions omitted]`);
    }
  }
  return out.join("\n");
}

export default textCompressor("lint", ["tool-results"], compressLint);
