import { Elysia } from "elysia";
import type { Gateway } from "../gateway.ts";

export function health(gw: Gateway) {
  return new Elysia({ name: "health" })
    .get("/health", () => Response.json({ status: "ok" }))
    .get("/ready", () => {
      const ready = gw.accepting && gw.log.writable();
      return Response.json(
        { status: ready ? "ready" : "unavailable", config: true, log: ready },
        { status: ready ? 200 : 503 },
      );
    });
}
