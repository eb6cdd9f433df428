import { watch, type FSWatcher, readdirSync, statSync } from "node:fs";
import { redact } from "../gateway.ts";
import { basename, dirname, extname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Logger } from "pino";
import { PluginFailed, PluginLoaded, PluginUnloaded } from "../../events/catalog/plugin.ts";
import type { EventLog } from "../../events/log.ts";
import { pluginName, type AuthPlugin, type CloakPlugin, type CompressorPlugin, type ExecutorPlugin, type Plugin } from "./hooks.ts";

// The plugin host: built-ins and the user's plugin directory register through the same hooks.
// Loading and calling are isolated: a failure is logged and recorded, never thrown at a request
// that does not need the plugin.

const Fn = Type.Function([], Type.Unknown());
const Dialect = Type.Union([Type.Literal("openai-chat"), Type.Literal("openai-responses"), Type.Literal("anthropic"), Type.Literal("gemini")]);
const PluginShape = TypeCompiler.Compile(Type.Union([
  Type.Object({ hook: Type.Literal("executor"), kind: Type.String({ pattern: "^[a-z0-9][a-z0-9._-]*$" }), dialect: Type.Optional(Dialect), request: Type.Optional(Fn), execute: Type.Optional(Fn), embed: Type.Optional(Fn) }),
  Type.Object({ hook: Type.Literal("compressor"), name: Type.String({ minLength: 1 }), touches: Type.Array(Type.String()), compress: Fn }),
  Type.Object({ hook: Type.Literal("cloak"), name: Type.String({ minLength: 1 }), redact: Fn }),
  Type.Object({ hook: Type.Literal("auth"), name: Type.String({ minLength: 1 }), authenticate: Fn }),
]));

const EXTENSIONS = new Set([".ts", ".js", ".mjs", ".mts"]);

interface Entry {
  plugin: Plugin;
  source: string;
}

export class PluginHost {
  /** By plugin name; a user plugin replaces a built-in of the same name. */
  private readonly entries = new Map<string, Entry>();
  /** Names registered from each user file, to unload them when the file goes away. */
  private readonly byFile = new Map<string, string>();
  private watcher: FSWatcher | undefined;
  private readonly timers = new Map<string, Timer>();
  private loads = 0;

  /** The secrets in force, scrubbed from what a failing plugin's error says (set by the gateway). */
  secrets: () => readonly string[] = () => [];

  constructor(private readonly log: EventLog, private readonly logger: Logger) {}

  register(plugin: Plugin, source = "builtin"): void {
    const name = pluginName(plugin);
    this.entries.set(name, { plugin, source });
    this.byHook.clear();
    void this.log.append(PluginLoaded, { plugin: name, hook: plugin.hook, source });
  }

  executor(kind: string): ExecutorPlugin | undefined {
    const entry = this.entries.get(`executor:${kind}`);
    return entry?.plugin as ExecutorPlugin | undefined;
  }

  kinds(): Set<string> {
    return new Set([...this.entries.values()].flatMap(({ plugin }) => (plugin.hook === "executor" ? [plugin.kind] : [])));
  }

  compressors(): CompressorPlugin[] {
    return this.ofHook("compressor");
  }

  cloaks(): CloakPlugin[] {
    return this.ofHook("cloak");
  }

  auth(): AuthPlugin[] {
    return this.ofHook("auth");
  }

  /** Per-hook lists, rebuilt only when a plugin comes or goes (they are read on every request). */
  private byHook = new Map<string, Plugin[]>();

  private ofHook<H extends Plugin["hook"]>(hook: H): Array<Extract<Plugin, { hook: H }>> {
    let list = this.byHook.get(hook);
    if (!list) {
      list = [...this.entries.values()].map((e) => e.plugin).filter((p) => p.hook === hook);
      this.byHook.set(hook, list);
    }
    return list as Array<Extract<Plugin, { hook: H }>>;
  }

  sourceOf(plugin: Plugin): string {
    return this.entries.get(pluginName(plugin))?.source ?? "builtin";
  }

  /** Record a plugin's failure during a call; the caller then goes on without it. */
  failed(plugin: Plugin, error: unknown, request?: string): void {
    const name = pluginName(plugin);
    // A plugin's error text can hold what it was given (a provider's key, a caller's header).
    const message = redact(errorText(error), this.secrets());
    this.logger.error({ plugin: name, request, err: message }, "plugin call failed");
    void this.log.append(PluginFailed, { plugin: name, source: this.sourceOf(plugin), phase: "call", error: message, ...(request ? { request } : {}) });
  }

  /** Load every plugin file in `dir`, then reload each file when it changes. */
  async loadDir(dir: string, watchChanges = true): Promise<void> {
    const root = resolve(dir);
    let files: string[];
    try {
      files = readdirSync(root).filter((f) => EXTENSIONS.has(extname(f)) && !f.startsWith(".") && !f.endsWith(".d.ts")).sort();
    } catch (error) {
      this.loadFailed(root, `cannot read plugins directory: ${errorText(error)}`);
      return;
    }
    for (const file of files) await this.loadFile(join(root, file));
    if (watchChanges) this.watch(root);
  }

  /** Load (or reload) one user plugin file. */
  async loadFile(file: string): Promise<boolean> {
    let stat;
    try {
      stat = statSync(file);
    } catch {
      this.unloadFile(file);
      return false;
    }
    // A plugin runs with the gateway's rights: refuse files others could have written or put there.
    const refusal = unsafePlugin(file, stat);
    if (refusal) {
      this.loadFailed(file, refusal);
      return false;
    }
    let module: { default?: unknown };
    try {
      module = await import(`${pathToFileURL(file).href}?v=${stat.mtimeMs}-${++this.loads}`);
    } catch (error) {
      this.loadFailed(file, errorText(error));
      return false;
    }
    const plugin = module.default;
    if (!PluginShape.Check(plugin)) {
      const first = PluginShape.Errors(plugin).First();
      this.loadFailed(file, `default export is not a plugin definition (${first?.path || "/"}: ${first?.message ?? "invalid"}); expected { hook: "executor" | "compressor" | "cloak" | "auth", … }`);
      return false;
    }
    const name = pluginName(plugin as Plugin);
    const previous = this.byFile.get(file);
    if (previous && previous !== name) {
      this.entries.delete(previous);
      this.byHook.clear();
    }
    this.byFile.set(file, name);
    this.register(plugin as Plugin, file);
    this.logger.info({ plugin: name, source: file }, "plugin loaded");
    return true;
  }

  private unloadFile(file: string): void {
    const name = this.byFile.get(file);
    if (!name) return;
    this.byFile.delete(file);
    this.entries.delete(name);
    this.byHook.clear();
    void this.log.append(PluginUnloaded, { plugin: name, source: file });
    this.logger.info({ plugin: name, source: file }, "plugin unloaded");
  }

  private loadFailed(source: string, error: string): void {
    const plugin = basename(source);
    this.logger.error({ plugin, source, err: error }, "plugin failed to load");
    void this.log.append(PluginFailed, { plugin, source, phase: "load", error });
  }

  private watch(root: string): void {
    this.watcher?.close();
    try {
      this.watcher = watch(root, (_event, name) => {
        if (!name || !EXTENSIONS.has(extname(name)) || name.startsWith(".")) return;
        const file = join(root, name.toString());
        // Editors write in several steps; act once the file has settled.
        clearTimeout(this.timers.get(file));
        this.timers.set(file, setTimeout(() => {
          this.timers.delete(file);
          void this.loadFile(file);
        }, 100));
      });
    } catch (error) {
      this.loadFailed(root, `cannot watch plugins directory: ${errorText(error)}`);
    }
  }

  close(): void {
    this.watcher?.close();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

/** One line, no stack: plugin errors end up in events and logs. */
/**
 * Why a plugin file may not be loaded, if it may not: anyone but the gateway's own user (or root)
 * could have written it — the file, or the directory it sits in (a writable directory lets
 * anyone drop in or swap a file of their own; RELIABILITY T22).
 */
function unsafePlugin(file: string, stat: { mode: number; uid: number }): string | undefined {
  const me = process.getuid?.();
  const trusted = (uid: number) => me === undefined || uid === me || uid === 0;
  if ((stat.mode & 0o022) !== 0) return "plugin file is writable by group or others; refusing to load it (chmod go-w)";
  if (!trusted(stat.uid)) return `plugin file belongs to another user (uid ${stat.uid}); refusing to load it`;
  let dir: { mode: number; uid: number };
  try {
    dir = statSync(dirname(file));
  } catch {
    return "plugin directory cannot be read";
  }
  // A sticky directory (like /tmp) is not enough: it still lets others add files.
  if ((dir.mode & 0o022) !== 0) return "plugins directory is writable by group or others; refusing to load from it (chmod go-w)";
  if (!trusted(dir.uid)) return `plugins directory belongs to another user (uid ${dir.uid}); refusing to load from it`;
  return undefined;
}

export function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error);
  return text.split("\n")[0]!.slice(0, 500);
}
