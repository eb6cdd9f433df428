import { createHash } from "node:crypto";
import { TerseApplied } from "../../events/catalog/terse.ts";
import type { Gateway } from "../gateway.ts";
import type { Request } from "../ir.ts";
import type { RouteConfig } from "../../schemas/config.ts";

// Terse output mode: a fixed instruction asking for terse replies, appended at the very end of
// the system prompt. Fixed and at the end, it is the same bytes on every turn of a conversation,
// so the provider's prompt cache prefix holds; messages are never touched. Its effect on output
// tokens is measured, not assumed: with a route's `holdout`, a share of conversations goes
// without it (the control arm), and usage compares the two arms' output tokens.

export const TERSE_INSTRUCTION = [
  "Reply tersely.",
  "No preamble, no restating the question, no closing summary, no offers of further help.",
  "Short sentences or fragments; no filler, no hedging.",
  "Keep code, commands, identifiers, file paths, numbers, quoted text and error messages exact and complete: never abbreviate or paraphrase them.",
  "Tool calls and structured output are given in full, as usual.",
].join(" ");

/** `forced`: the header asked for it; it gets the instruction but is not part of the measurement. */
export type TerseArm = "terse" | "control" | "forced";

/** The text a conversation is known by on every turn: its first user message, as the client sent it. */
function conversationKey(request: Request): string {
  const first = request.messages.find((m) => m.role === "user");
  return first ? JSON.stringify(first.content) : "";
}

/** Where in [0, 1) a conversation falls: a hash, so every turn and every replay lands the same. */
export function conversationPoint(request: Request): number {
  const digest = createHash("sha256").update(conversationKey(request)).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/**
 * The arm of a request, or undefined when terse mode is off for it. The header `x-sluice-terse`
 * decides first (`off` always wins; `on` turns it on, as arm `forced`, which the measurement
 * leaves out: such requests chose themselves); else the route's `terse`, whose `holdout` share of conversations is the control.
 * `request` is the one the client sent (before plugins), so a compressed first turn hashes the same.
 */
export function terseArm(route: RouteConfig | undefined, header: string | null, request: Request): TerseArm | undefined {
  const asked = header?.trim().toLowerCase();
  if (asked === "off" || asked === "false" || asked === "0") return undefined;
  if (asked === "on" || asked === "true" || asked === "1") return "forced";
  const terse = route?.terse;
  if (!terse) return undefined;
  const holdout = terse === true ? 0 : terse.holdout;
  return holdout > 0 && conversationPoint(request) < holdout ? "control" : "terse";
}

/** The request with the terse instruction appended after the rest of its system prompt. */
export function withTerseInstruction(request: Request): Request {
  return { ...request, system: [...request.system, { type: "text", text: TERSE_INSTRUCTION }] };
}

/** Record the arm and give the request as that arm sends it. */
export function applyTerse(gw: Gateway, id: string, arm: TerseArm | undefined, request: Request): Request {
  if (!arm) return request;
  void gw.log.append(TerseApplied, { request: id, arm });
  return arm === "control" ? request : withTerseInstruction(request);
}
