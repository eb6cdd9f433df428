import { StartError } from "../boot.ts";
import type { Plugin } from "../plugins/hooks.ts";
import { UsageError } from "./args.ts";
import { backupCommand } from "./backup.ts";
import { keysCommand } from "./keys.ts";
import { replayCommand } from "./replay.ts";
import { serveCommand } from "./serve.ts";
import { vaultCommand } from "./vault.ts";
import { VERSION } from "./version.ts";

const HELP = `Sluice ${VERSION} — a self-hosted LLM API gateway

Usage: sluice <command> [flags]

Commands:
  serve    start the gateway (default 127.0.0.1:2402)
  replay   rebuild state from an event log, explain a request's routing, or re-route under another config
  keys     create, list and revoke caller keys
  backup   copy the event log (and vault) to a file while the server runs
  vault    store provider API keys encrypted (set, list, rm)
  archive  move old events out of the live log to an archive file (replay still reads them)

Run "sluice <command> --help" for a command's flags.`;

/** The CLI. Returns the exit code: 0 ok, 1 failure at run time, 2 bad usage, config or data dir. */
export async function main(argv: string[], builtins: Plugin[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(HELP);
        return 0;
      case "--version":
      case "-v":
        console.log(VERSION);
        return 0;
      case "serve":
        return await serveCommand(rest, builtins);
      case "replay":
        return await replayCommand(rest);
      case "keys":
        return await keysCommand(rest, builtins);
      case "backup":
        return await backupCommand(rest);
      case "vault":
        return await vaultCommand(rest);
      case "archive":
        return await (await import("./archive.ts")).archiveCommand(rest);
      default:
        throw new UsageError(`sluice: unknown command "${command}" (commands: serve, replay, keys, backup, vault, archive; see sluice --help)`);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof StartError) {
      console.error(error.message);
      return 2;
    }
    console.error(`sluice: ${(error as Error)?.message?.split("\n")[0] ?? String(error)}`);
    return 1;
  }
}
