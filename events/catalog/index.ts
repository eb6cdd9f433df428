import type { EventDefinition } from "../define.ts";
import * as cache from "./cache.ts";
import * as capture from "./capture.ts";
import * as compression from "./compression.ts";
import * as config from "./config.ts";
import * as key from "./key.ts";
import * as plugin from "./plugin.ts";
import * as request from "./request.ts";
import * as response from "./response.ts";
import * as routing from "./routing.ts";
import * as server from "./server.ts";
import * as signature from "./signature.ts";
import * as terse from "./terse.ts";
import * as tokens from "./tokens.ts";

export * from "./cache.ts";
export * from "./capture.ts";
export * from "./compression.ts";
export * from "./config.ts";
export * from "./key.ts";
export * from "./plugin.ts";
export * from "./request.ts";
export * from "./response.ts";
export * from "./routing.ts";
export * from "./server.ts";
export * from "./signature.ts";
export * from "./terse.ts";
export * from "./tokens.ts";

/** Every event type Sluice knows, by type name; append and replay validate against it. */
export const catalog: ReadonlyMap<string, EventDefinition> = new Map(
  [cache, capture, compression, config, key, plugin, request, response, routing, server, signature, terse, tokens]
    .flatMap((family) => Object.values(family))
    .filter((value): value is EventDefinition => typeof value === "object" && value !== null && "check" in value && "type" in value)
    .map((definition) => [definition.type, definition]),
);
