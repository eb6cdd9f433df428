import { ResponseStored } from "../../events/catalog/response.ts";
import { gatewayError, type GatewayError } from "../errors.ts";
import type { StoredTurn } from "../../events/projections/conversations.ts";
import type { Gateway } from "../gateway.ts";
import type { Message, Part, Request } from "../ir.ts";

// The Responses API's state: `store` (default true) keeps each answered turn as a
// `response.stored` event; `previous_response_id` continues from one, whatever provider serves
// the next turn. The turns live in the event log and the `conversations` projection, so a
// restart or a replay sees the same conversations. Instructions do not carry over (as in
// OpenAI's API): each request brings its own.

/** How many stored turns one continuation may follow back. */
const MAX_CHAIN = 1_000;

/** The response id a Responses client sees for a request: stable, derived from the request id. */
export function responseIdFor(request: string): string {
  return `resp_${request.replace(/^req_/, "")}`;
}

/** The request with the stored conversation it continues put in front of its own messages. */
export function continueConversation(gw: Gateway, request: Request): { request: Request; previous?: string } | GatewayError {
  const { previous_response_id: previous, store: _store, ...extra } = request.extra;
  if (previous === undefined || previous === null) return { request: { ...request, extra } };
  if (typeof previous !== "string") {
    return gatewayError("invalid_request", "previous_response_id must be a string", { param: "previous_response_id" });
  }
  const { turns } = gw.projections.get("conversations");
  const chain: Message[][] = [];
  let id: string | undefined = previous;
  for (let hops = 0; id !== undefined && hops < MAX_CHAIN; hops++) {
    const turn: StoredTurn | undefined = Object.hasOwn(turns, id) ? turns[id] : undefined;
    if (!turn) {
      return gatewayError("invalid_request", `Previous response with id '${previous.slice(0, 100)}' not found.`, { param: "previous_response_id", code: "previous_response_not_found" });
    }
    chain.unshift([...(turn.input as Message[]), { role: "assistant", content: turn.output as Part[] }]);
    id = turn.previous;
  }
  return { request: { ...request, messages: [...chain.flat(), ...request.messages], extra }, previous };
}

/** Record an answered turn, unless the client said `store: false`. */
export function storeTurn(gw: Gateway, turn: { request: string; id: string; previous?: string; input: Message[]; output: Part[] }): void {
  void gw.log.append(ResponseStored, {
    request: turn.request, id: turn.id, ...(turn.previous ? { previous: turn.previous } : {}),
    input: turn.input, output: turn.output,
  });
}
