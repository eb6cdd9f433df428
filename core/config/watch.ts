import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { ConfigApplied, ConfigRejected } from "../../events/catalog/config.ts";
import { scrub, secretsOf, type Gateway } from "../gateway.ts";
import { checkKinds, loadConfigFile } from "./load.ts";
import { checkVaultRefs, vaultSecrets } from "../vault/index.ts";
import { pruneCache } from "../pipeline/cache.ts";
import { providersLoaded } from "../models/catalog.ts";

// Hot reload: a valid edit of the config file is applied without a restart and recorded as
// `config.applied`; an invalid one is rejected, logged and recorded as `config.rejected`, and
// the running config stays in force.

/** Settings read once at start; a change to them is noted and waits for a restart. */
const RESTART_ONLY = ["server", "data_dir", "durability", "plugins_dir"] as const;

type Outcome = "applied" | "rejected" | "unchanged";

/** Record a rejected edit: logged and on the log as `config.rejected`, never thrown. */
function rejectConfig(gw: Gateway, path: string, error: string): "rejected" {
  const safe = scrub(error, gw.secrets);
  gw.logger.error({ source: path, err: safe }, "config rejected; the running config stays in force");
  try {
    void gw.log.append(ConfigRejected, { source: path, error: safe });
  } catch (error) {
    gw.logger.error({ err: error instanceof Error ? error.message : String(error) }, "could not record config.rejected");
  }
  return "rejected";
}

/**
 * Apply the file's config if it is valid. Runs from a timer, where a throw would be uncaught:
 * any failure past the checks is a rejection too, and the running config stays.
 */
export function reloadConfig(gw: Gateway, path: string, overrides: (c: Gateway["config"]) => Gateway["config"]): Outcome {
  const { config, secrets } = gw;
  try {
    return applyConfigFile(gw, path, overrides);
  } catch (error) {
    // A throw part-way through applying must not leave half a config in force.
    gw.config = config;
    gw.secrets = secrets;
    const reason = (error instanceof Error ? error.message : String(error)).split("\n", 1)[0]!.slice(0, 200);
    return rejectConfig(gw, path, `${path}: cannot apply the config: ${reason}`);
  }
}

function applyConfigFile(gw: Gateway, path: string, overrides: (c: Gateway["config"]) => Gateway["config"]): Outcome {
  const result = loadConfigFile(path);
  const reject = (error: string) => rejectConfig(gw, path, error);
  if (!result.ok) return reject(result.error);
  const badKind = checkKinds(result.config, gw.plugins.kinds());
  if (badKind) return reject(`${path}: ${badKind}`);
  const badRef = checkVaultRefs(result.config, gw.vault);
  if (badRef) return reject(`${path}: ${badRef}`);
  const next = overrides(result.config);
  if (JSON.stringify(next) === JSON.stringify(gw.config)) return "unchanged";
  for (const key of RESTART_ONLY) {
    if (JSON.stringify(next[key]) !== JSON.stringify(gw.config[key])) {
      gw.logger.warn({ key }, `config: a change to "${key}" takes effect at the next restart`);
      (next as Record<string, unknown>)[key] = gw.config[key];
    }
  }
  gw.config = next;
  providersLoaded(next.providers);
  gw.secrets = [...secretsOf(next), ...vaultSecrets(next, gw.vault)];
  // Answers kept for routes that changed (or stopped caching) are not served under the new config.
  pruneCache(gw);
  void gw.log.append(ConfigApplied, {
    source: path, digest: result.digest, reason: "reload",
    providers: next.providers.map((p) => p.id), routes: next.routes.map((r) => r.name),
  });
  gw.logger.info({ source: path, providers: next.providers.length, routes: next.routes.length }, "config applied");
  return "applied";
}

/** Watch the file's directory (editors often replace the file rather than write it). */
export function watchConfig(gw: Gateway, path: string, overrides: (c: Gateway["config"]) => Gateway["config"]): FSWatcher {
  const file = resolve(path);
  let timer: Timer | undefined;
  const watcher = watch(dirname(file), (_event, name) => {
    if (name && name.toString() !== basename(file)) return;
    clearTimeout(timer);
    timer = setTimeout(() => reloadConfig(gw, file, overrides), 150);
  });
  const close = watcher.close.bind(watcher);
  watcher.close = () => {
    clearTimeout(timer);
    close();
  };
  return watcher;
}
