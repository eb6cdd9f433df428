import { Type } from "@sinclair/typebox";
import { defineEvent } from "../define.ts";

export const ServerStarted = defineEvent("server.started", Type.Object({
  host: Type.String(),
  port: Type.Integer(),
  version: Type.String(),
  pid: Type.Integer(),
  durability: Type.String(),
}));

export const ServerStopped = defineEvent("server.stopped", Type.Object({
  reason: Type.String(),
}));
