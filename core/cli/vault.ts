import { existsSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { keySourceFromEnv, Vault, VaultError, type KeySource } from "../vault/vault.ts";
import { UsageError } from "./args.ts";
import { loadWhatIfConfig } from "./replay.ts";

const KEY_HELP = `Master key (first one set wins):
  SLUICE_VAULT_KEY        base64 of 32 random bytes (openssl rand -base64 32)
  SLUICE_VAULT_KEY_FILE   a file holding that base64, mode 600 (refused if group or others can access it)
  SLUICE_VAULT_PASSPHRASE a passphrase; the key is derived with argon2id (m=64 MiB, t=2, p=1)
  --passphrase-stdin      (set only) read the passphrase as the first line of stdin, the value after it`;

const COMMON_FLAGS = `  --data DIR     data directory holding vault.json (default: the config's data_dir, else ./.sluice)
  --config FILE  config file to take data_dir from (default ./sluice.yaml if present)
  -h, --help     show this help`;

export const VAULT_HELP = `Usage: sluice vault <set|list|rm> [NAME] [--data DIR] [--config FILE]

Provider API keys encrypted at rest (AES-256-GCM) in <data_dir>/vault.json, instead of the YAML.
The config refers to an entry by name: providers[].api_key (or a providers[].headers value)
written as vault:NAME. Values are decrypted only where a request is sent upstream.

  sluice vault set NAME   store a value read from stdin (never from the command line)
  sluice vault list       entry names and when each was set (never values)
  sluice vault rm NAME    delete an entry

${COMMON_FLAGS}

${KEY_HELP}

Example:  printf %s "$ANTHROPIC_API_KEY" | sluice vault set anthropic
          then in sluice.yaml:  api_key: vault:anthropic`;

const SET_HELP = `Usage: sluice vault set NAME [--data DIR] [--config FILE] [--passphrase-stdin]

Store NAME (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit), replacing any value it
had. The value is read from stdin, one line (a trailing newline is dropped); on a terminal it is
read without echo. It is never taken from the command line, which other users can see in ps.

${COMMON_FLAGS}
  --passphrase-stdin  the first line of stdin is the passphrase, the value follows it

${KEY_HELP}

Example:  printf %s "$ANTHROPIC_API_KEY" | sluice vault set anthropic`;

const LIST_HELP = `Usage: sluice vault list [--data DIR] [--config FILE] [--json]

List the vault's entry names and when each was set. Values are never shown; no key is needed.

${COMMON_FLAGS}
  --json         print JSON ([{ "name", "created_at" }])`;

const RM_HELP = `Usage: sluice vault rm NAME [--data DIR] [--config FILE]

Delete an entry (exit 1 if there is none). No key is needed. A running gateway notices the change
on its next request; a config that still refers to the entry fails its next reload.

${COMMON_FLAGS}`;

type Options = NonNullable<ParseArgsConfig["options"]>;

function parse<O extends Options>(args: string[], options: O, command: string) {
  try {
    return parseArgs({
      args, options: { ...options, data: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true, allowPositionals: true,
    });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!
      .replace(/^Unknown option '(.+?)'.*$/, "unknown flag $1")
      .replace(/^Option '(.+?)' argument missing$/, "flag $1 needs a value");
    throw new UsageError(`sluice ${command}: ${message} (see sluice ${command} --help)`);
  }
}

/** `--data`, else the config's data_dir (`--config`, else ./sluice.yaml if present), else ./.sluice. */
function dataDir(values: { data?: string; config?: string }): string {
  const path = values.config ?? (values.data === undefined && existsSync("sluice.yaml") ? "sluice.yaml" : undefined);
  // Loaded and validated like serve's (one line, exit 2 on error); secrets are not needed here.
  const config = path !== undefined ? loadWhatIfConfig(path) : undefined;
  return values.data ?? config?.data_dir ?? "./.sluice";
}

function oneName(positionals: string[], command: string): string {
  if (positionals.length === 0) throw new UsageError(`sluice ${command}: missing NAME (see sluice ${command} --help)`);
  if (positionals.length > 1) throw new UsageError(`sluice ${command}: unexpected argument "${positionals[1]!.slice(0, 80)}" (give one NAME; the value is read from stdin)`);
  return positionals[0]!;
}

function noPositionals(positionals: string[], command: string): void {
  if (positionals.length > 0) throw new UsageError(`sluice ${command}: unexpected argument "${positionals[0]!.slice(0, 80)}" (see sluice ${command} --help)`);
}

/** All of stdin; on a terminal, one line read without echo. */
async function readStdin(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return await Bun.stdin.text();
  process.stderr.write(prompt);
  const stty = (flag: string) => {
    try {
      Bun.spawnSync(["stty", flag], { stdin: "inherit", stdout: "ignore", stderr: "ignore" });
    } catch {
      // no stty: the value is echoed
    }
  };
  stty("-echo");
  try {
    const reader = Bun.stdin.stream().getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.includes("\n")) break;
    }
    reader.releaseLock();
    return text;
  } finally {
    stty("echo");
    process.stderr.write("\n");
  }
}

function dropNewline(text: string): string {
  return text.replace(/\r?\n$/, "");
}

async function setCommand(args: string[]): Promise<number> {
  const command = "vault set";
  const { values, positionals } = parse(args, { "passphrase-stdin": { type: "boolean" } }, command);
  if (values.help) {
    console.log(SET_HELP);
    return 0;
  }
  const name = oneName(positionals, command);
  const dir = dataDir(values);
  let source: KeySource | undefined = values["passphrase-stdin"] ? undefined : keySourceFromEnv(process.env);
  if (!values["passphrase-stdin"] && !source) {
    throw new UsageError(`sluice ${command}: no vault key: set SLUICE_VAULT_KEY, SLUICE_VAULT_KEY_FILE or SLUICE_VAULT_PASSPHRASE, or give --passphrase-stdin`);
  }
  let input = await readStdin(values["passphrase-stdin"] ? "passphrase, then the value (each followed by Enter): " : `value for ${name}: `);
  if (values["passphrase-stdin"]) {
    const newline = input.indexOf("\n");
    const passphrase = (newline < 0 ? input : input.slice(0, newline)).replace(/\r$/, "");
    if (!passphrase) throw new UsageError(`sluice ${command}: --passphrase-stdin: the first line of stdin (the passphrase) is empty`);
    source = { kind: "passphrase", passphrase, from: "--passphrase-stdin" };
    input = newline < 0 ? "" : input.slice(newline + 1);
    if (process.stdin.isTTY && !input) input = await readStdin(`value for ${name}: `);
  }
  const value = dropNewline(input);
  if (!value) throw new UsageError(`sluice ${command}: no value on stdin (pipe it in: printf %s "$KEY" | sluice vault set ${name})`);
  if (/[\r\n\0]/.test(value)) throw new UsageError(`sluice ${command}: the value must be one line (no CR, LF or NUL: it is sent as a header)`);
  const vault = Vault.open(dir, source);
  const created = !vault.exists;
  vault.set(name, value);
  const how = created ? ` (new vault; ${vault.kdf === "raw" ? "raw key" : `key derived with ${vault.kdf}`})` : "";
  console.log(`stored vault entry "${name}" in ${vault.path}${how}; refer to it in the config as vault:${name}`);
  return 0;
}

function listCommand(args: string[]): number {
  const command = "vault list";
  const { values, positionals } = parse(args, { json: { type: "boolean" } }, command);
  if (values.help) {
    console.log(LIST_HELP);
    return 0;
  }
  noPositionals(positionals, command);
  const vault = Vault.open(dataDir(values));
  const entries = vault.list();
  if (values.json) console.log(JSON.stringify(entries, null, 2));
  else if (!vault.exists) console.log(`no vault at ${vault.path}`);
  else if (entries.length === 0) console.log(`no entries in ${vault.path}`);
  else {
    const width = Math.max(4, ...entries.map((e) => e.name.length));
    console.log(`${"NAME".padEnd(width)}  CREATED`);
    for (const entry of entries) console.log(`${entry.name.padEnd(width)}  ${entry.created_at}`);
  }
  return 0;
}

function rmCommand(args: string[]): number {
  const command = "vault rm";
  const { values, positionals } = parse(args, {}, command);
  if (values.help) {
    console.log(RM_HELP);
    return 0;
  }
  const name = oneName(positionals, command);
  const vault = Vault.open(dataDir(values));
  if (!vault.remove(name)) {
    console.error(`sluice vault rm: no entry "${name}" in ${vault.path}`);
    return 1;
  }
  console.log(`removed vault entry "${name}" from ${vault.path}`);
  return 0;
}

/** `sluice vault set|list|rm`. A VaultError (wrong key, altered file, bad name) is one line, exit 2. */
export async function vaultCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case "--help":
      case "-h":
      case "help":
        console.log(VAULT_HELP);
        return 0;
      case "set":
        return await setCommand(rest);
      case "list":
      case "ls":
        return listCommand(rest);
      case "rm":
      case "remove":
        return rmCommand(rest);
      case undefined:
        throw new UsageError("sluice vault: missing subcommand (set, list or rm; see sluice vault --help)");
      default:
        throw new UsageError(`sluice vault: unknown subcommand "${sub.slice(0, 80)}" (set, list or rm; see sluice vault --help)`);
    }
  } catch (error) {
    if (error instanceof VaultError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}
