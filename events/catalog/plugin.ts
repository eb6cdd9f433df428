import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

const Hook = Type.String();

export const PluginLoaded = defineEvent("plugin.loaded", Type.Object({
  plugin: Type.String(),
  hook: Hook,
  /** "builtin" or the file it was loaded from. */
  source: Type.String(),
}));

export const PluginUnloaded = defineEvent("plugin.unloaded", Type.Object({
  plugin: Type.String(),
  source: Type.String(),
}));

export const PluginFailed = defineEvent("plugin.failed", Type.Object({
  plugin: Type.String(),
  source: Type.String(),
  phase: Type.Union([Type.Literal("load"), Type.Literal("call")]),
  error: Type.String(),
  request: Type.Optional(Type.String()),
}));
