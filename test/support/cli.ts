import { join } from "node:path";
import { expect } from "vitest";

// The real CLI, as a user runs it: a separate process, a clean environment, a time limit.

export const ROOT = join(import.meta.dirname, "../..");

export interface CliResult {
  stdout: string;
  stderr: string;
  code: number;
}

export async function sluice(args: string[], options: { cwd?: string; env?: Record<string, string>; stdin?: string } = {}): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "sluice.ts"), ...args], {
    cwd: options.cwd ?? ROOT, stdout: "pipe", stderr: "pipe",
    stdin: options.stdin !== undefined ? new Blob([options.stdin]) : "ignore",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...options.env },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { stdout, stderr, code };
}

/** A refusal as the CLI promises it: exit 2, one line on stderr, no stack trace. */
export function expectOneLine(result: { stderr: string; code: number }, pattern: RegExp): void {
  expect(result.code).toBe(2);
  const lines = result.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
}
