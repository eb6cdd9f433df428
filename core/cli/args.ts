import { parseArgs, type ParseArgsConfig } from "node:util";

/** A problem with what the user typed: printed as one line, exit code 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Strict flag parsing: an unknown flag, a missing value or a stray argument is a UsageError. */
export function parseFlags<O extends Options>(args: string[], options: O, command: string) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!
      .replace(/^Unknown option '(.+?)'.*$/, "unknown flag $1")
      .replace(/^Option '(.+?)' argument missing$/, "flag $1 needs a value")
      .replace(/^Unexpected argument '(.+?)'.*$/, "unexpected argument \"$1\"");
    throw new UsageError(`sluice ${command}: ${message} (see sluice ${command} --help)`);
  }
}

export function parsePort(value: string | undefined, command: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new UsageError(`sluice ${command}: --port expects a number from 0 to 65535, got "${value}"`);
  return port;
}
