import { existsSync, type FSWatcher } from "node:fs";
import type { Logger } from "pino";
import { ServerStarted, ServerStopped } from "../../events/catalog/server.ts";
import type { Config } from "../../schemas/config.ts";
import { boot, shutdown, StartError } from "../boot.ts";
import { defaultConfig } from "../config/defaults.ts";
import { loadConfigFile, type ConfigResult } from "../config/load.ts";
import { watchConfig } from "../config/watch.ts";
import type { Gateway } from "../gateway.ts";
import { createLogger } from "../log.ts";
import type { Plugin } from "../plugins/hooks.ts";
import { callersAuthenticated } from "../pipeline/plugins.ts";
import { createApp } from "../server/app.ts";
import { parseFlags, parsePort } from "./args.ts";
import { VERSION } from "./version.ts";

export const SERVE_HELP = `Usage: sluice serve [--config FILE] [--host H] [--port N] [--data DIR]

Start the gateway.

  --config FILE  config file (default ./sluice.yaml if present, else built-in defaults)
  --host H       address to listen on (default 127.0.0.1)
  --port N       port to listen on (default 2402; 0 picks a free port)
  --data DIR     data directory holding events.db (default ./.sluice)
  -h, --help     show this help

Built-in defaults: loopback only, and one provider for each of OPENAI_API_KEY,
ANTHROPIC_API_KEY and GEMINI_API_KEY found in the environment.`;

export interface ServeFlags {
  config?: string;
  host?: string;
  port?: number;
  data?: string;
}

export const SERVE_OPTIONS = {
  config: { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  data: { type: "string" },
} as const;

export function serveFlags(args: string[], command = "serve"): ServeFlags & { help?: boolean } {
  const { values } = parseFlags(args, SERVE_OPTIONS, command);
  return {
    ...(values.config !== undefined ? { config: values.config } : {}),
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(values.port !== undefined ? { port: parsePort(values.port, command) } : {}),
    ...(values.data !== undefined ? { data: values.data } : {}),
    ...(values.help ? { help: true } : {}),
  };
}

/** The config file in force and what the flags override. */
export function resolveConfig(flags: ServeFlags, kinds: ReadonlySet<string>, env = process.env): ConfigResult & { source: string } {
  const path = flags.config ?? (existsSync("sluice.yaml") ? "sluice.yaml" : undefined);
  const result = path ? loadConfigFile(path, env) : defaultConfig(env, kinds);
  return { ...result, source: path ?? "defaults" };
}

export function applyFlags(flags: ServeFlags): (config: Config) => Config {
  return (config) => ({
    ...config,
    server: { ...config.server, ...(flags.host ? { host: flags.host } : {}), ...(flags.port !== undefined ? { port: flags.port } : {}) },
    ...(flags.data ? { data_dir: flags.data } : {}),
  });
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** How long a SIGTERM waits for in-flight requests before closing what is left. */
const DRAIN_MS = 30_000;

export interface Running {
  gw: Gateway;
  url: string;
  port: number;
  stop(reason?: string): Promise<void>;
}

/** Start the whole gateway: config, log, plugins, HTTP listener, config watcher. */
export async function startServer(flags: ServeFlags, builtins: Plugin[], options: { env?: NodeJS.ProcessEnv; logger?: Logger } = {}): Promise<Running> {
  const kinds = new Set(builtins.flatMap((p) => (p.hook === "executor" ? [p.kind] : [])));
  const resolved = resolveConfig(flags, kinds, options.env);
  if (!resolved.ok) throw new StartError(resolved.error);
  const override = applyFlags(flags);
  const config = override(resolved.config);
  const { host, port } = config.server;
  const logger = options.logger ?? createLogger(config.log.level);
  const gw = await boot({ config, source: resolved.source, digest: resolved.digest, builtins, logger, ...(options.env ? { env: options.env } : {}) });
  if (!isLoopback(host) && !config.auth.open && !callersAuthenticated(gw)) {
    shutdown(gw);
    throw new StartError(`refusing to listen on ${host} without caller authentication; create a key (sluice keys create) or set auth: { open: true } in the config to allow anyone who can reach it`);
  }
  const app = createApp(gw);
  try {
    // Bun's own body cap is a backstop: the pipeline answers an oversized body with a 413 in the
    // client's dialect. The idle timeout cuts slow senders; a request lifts it once its body is in.
    app.listen({
      hostname: host,
      port,
      maxRequestBodySize: config.server.max_body_bytes * 2 + 65_536,
      idleTimeout: config.server.idle_timeout_s,
      // Elysia defaults these on: a second gateway could share the port unnoticed, and
      // development mode answers errors with stack traces.
      reusePort: false,
      development: false,
    });
  } catch (error) {
    shutdown(gw);
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "EADDRINUSE" ? "address already in use" : code === "EACCES" ? "permission denied" : (error as Error).message.split("\n")[0];
    throw new StartError(`cannot listen on ${host}:${port}: ${reason}`);
  }
  const server = app.server!;
  const boundPort = server.port ?? port;
  let watcher: FSWatcher | undefined;
  if (resolved.source !== "defaults") watcher = watchConfig(gw, resolved.source, override);
  await gw.log.commit(ServerStarted, { host, port: boundPort, version: VERSION, pid: process.pid, durability: config.durability });
  logger.info({ host, port: boundPort, config: resolved.source, data: config.data_dir, providers: config.providers.map((p) => p.id) }, "sluice listening");
  if (config.providers.length === 0) {
    logger.warn("no providers configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY, or write a sluice.yaml");
  }

  let stopping: Promise<void> | undefined;
  const stop = (reason = "stopped") => {
    stopping ??= (async () => {
      gw.accepting = false;
      watcher?.close();
      // Let in-flight requests finish (their terminal events commit), then close the log.
      let force: Timer | undefined;
      await Promise.race([
        server.stop(false),
        new Promise<void>((resolve) => {
          force = setTimeout(() => void server.stop(true).then(resolve), DRAIN_MS);
        }),
      ]);
      clearTimeout(force);
      await gw.log.commit(ServerStopped, { reason }).catch(() => {});
      shutdown(gw);
      logger.flush();
    })();
    return stopping;
  };
  return { gw, url: `http://${host.includes(":") ? `[${host}]` : host}:${boundPort}`, port: boundPort, stop };
}

export async function serveCommand(args: string[], builtins: Plugin[]): Promise<number> {
  const flags = serveFlags(args);
  if (flags.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  // Listen for signals before the port opens: a SIGTERM that arrives while starting still drains.
  let signalled: string | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: string) => {
    signalled ??= signal;
    wake?.();
  };
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
  const running = await startServer(flags, builtins);
  await new Promise<void>((resolve) => {
    wake = resolve;
    if (signalled) resolve();
  });
  await running.stop(signalled);
  return 0;
}
