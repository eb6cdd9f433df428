import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

// Config changes. The config itself holds secrets, so events carry a digest and the
// shape (provider and route names), never values.

export const ConfigApplied = defineEvent("config.applied", Type.Object({
  /** The config file's path, or "defaults" for the embedded defaults. */
  source: Type.String(),
  /** SHA-256 of the expanded config, secrets included, so a change of key is visible but not readable. */
  digest: Type.String(),
  reason: Type.Union([Type.Literal("start"), Type.Literal("reload")]),
  providers: Type.Array(Type.String()),
  routes: Type.Array(Type.String()),
}));

export const ConfigRejected = defineEvent("config.rejected", Type.Object({
  source: Type.String(),
  error: Type.String(),
}));
