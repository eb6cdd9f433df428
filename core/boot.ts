import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { ConfigApplied } from "../events/catalog/config.ts";
import { EventLog } from "../events/log.ts";
import { watchHealth } from "./routing/health-watch.ts";
import { fileErrorReason } from "../events/files.ts";
import { Limiter } from "./keys/limits.ts";
import { ResponseCache } from "./pipeline/cache-store.ts";
import { checkVaultRefs, keySourceFromEnv, Vault, VaultError, vaultSecrets } from "./vault/index.ts";
import { LiveProjections } from "../events/projections/index.ts";
import type { Config } from "../schemas/config.ts";
import { checkKinds } from "./config/load.ts";
import { providersLoaded } from "./models/catalog.ts";
import type { Codec, DialectId } from "./dialects/codec.ts";
import { anthropic } from "./dialects/anthropic/index.ts";
import { gemini } from "./dialects/gemini/index.ts";
import { openaiChat } from "./dialects/openai-chat/index.ts";
import { openaiResponses } from "./dialects/openai-responses/index.ts";
import { secretsOf, type Gateway } from "./gateway.ts";
import type { Plugin } from "./plugins/hooks.ts";
import { PluginHost } from "./plugins/host.ts";

/** A start-up problem the user can fix: printed as one line, exit code 2. */
export class StartError extends Error {}

export const codecs: ReadonlyMap<DialectId, Codec> = new Map<DialectId, Codec>([openaiChat, openaiResponses, anthropic, gemini].map((codec) => [codec.id, codec]));

export interface BootOptions {
  config: Config;
  /** The config file's path, or "defaults". */
  source: string;
  digest: string;
  builtins: Plugin[];
  logger: Logger;
  /** Watch the plugins directory for changes (off in one-shot commands). */
  watchPlugins?: boolean;
  /** Where the vault key comes from (SLUICE_VAULT_KEY, _KEY_FILE or _PASSPHRASE); process.env by default. */
  env?: NodeJS.ProcessEnv;
}

/** Create the data dir (0700) with its log (0600); one clear error if it cannot be used. */
export function openLog(dataDir: string, durability: Config["durability"]): EventLog {
  const dir = resolve(dataDir);
  try {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new StartError(`cannot use data dir ${dataDir}: not a directory`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, "events.db");
    const log = EventLog.open(path, { durability });
    chmodSync(path, 0o600);
    return log;
  } catch (error) {
    if (error instanceof StartError) throw error;
    throw new StartError(`cannot use data dir ${dataDir}: ${fileErrorReason(error)}`);
  }
}

/** Everything but the HTTP listener: log, projections, plugins, config on record. */
export async function boot(options: BootOptions): Promise<Gateway> {
  const { config, logger } = options;
  providersLoaded(config.providers);
  const log = openLog(config.data_dir, config.durability);
  const plugins = new PluginHost(log, logger);
  for (const plugin of options.builtins) plugins.register(plugin);
  if (config.plugins_dir) await plugins.loadDir(config.plugins_dir, options.watchPlugins ?? true);
  const badKind = checkKinds(config, plugins.kinds());
  if (badKind) {
    plugins.close();
    log.close();
    throw new StartError(`${options.source}: ${badKind}`);
  }
  let vault: Vault;
  try {
    vault = Vault.open(config.data_dir, keySourceFromEnv(options.env ?? process.env));
  } catch (error) {
    plugins.close();
    log.close();
    if (error instanceof VaultError) throw new StartError(error.message);
    throw error;
  }
  const badRef = checkVaultRefs(config, vault);
  if (badRef) {
    plugins.close();
    log.close();
    throw new StartError(`${options.source}: ${badRef}`);
  }
  let projections: LiveProjections;
  try {
    projections = new LiveProjections(log, {
      onSnapshot: (r) => r.ok
        ? logger.info({ reason: r.reason, seq: r.seq, bytes: r.bytes, ms: r.ms }, "projection snapshot")
        : logger.warn({ reason: r.reason, seq: r.seq, error: r.error }, "projection snapshot failed"),
    });
  } catch (error) {
    plugins.close();
    log.close();
    // e.g. events moved to an archive file that is gone, with no snapshot to start from.
    throw new StartError(`cannot restore state: ${(error as Error).message.split("\n")[0]}`);
  }
  logger.info(projections.restored, "projections restored");
  const gw: Gateway = {
    config,
    log,
    projections,
    plugins,
    logger,
    codecs,
    accepting: true,
    inFlight: 0,
    secrets: [...secretsOf(config), ...vaultSecrets(config, vault)],
    vault,
    routePositions: new Map(),
    retriesInFlight: 0,
    peers: new WeakMap(),
    limiter: new Limiter(),
    cache: new ResponseCache(),
  };
  plugins.secrets = () => gw.secrets;
  watchHealth(gw);
  await log.commit(ConfigApplied, {
    source: options.source, digest: options.digest, reason: "start",
    providers: config.providers.map((p) => p.id), routes: config.routes.map((r) => r.name),
  });
  return gw;
}

/** Stop accepting, close plugins and the log. */
export function shutdown(gw: Gateway): void {
  gw.accepting = false;
  gw.plugins.close();
  gw.projections.stop();
  gw.log.close();
}
