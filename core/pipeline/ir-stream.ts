import { gatewayError, type GatewayError } from "../errors.ts";
import { cleanUsage, type FinishReason, type Part, type ReasoningPart, type Response, type StreamEvent, type ToolCallPart, type Usage } from "../ir.ts";

// Between the two IR shapes: a whole response as stream events (a client that streams from an
// executor that answered at once) and stream events gathered into a response (the reverse).

export function responseEvents(response: Response): StreamEvent[] {
  const events: StreamEvent[] = [{ type: "start", id: response.id, model: response.model, created: response.created }];
  let toolIndex = 0;
  for (const part of response.content) {
    switch (part.type) {
      case "text":
        events.push({ type: "text-delta", text: part.text });
        break;
      case "reasoning":
        events.push({
          type: "reasoning-delta", text: part.text,
          ...(part.signature ? { signature: part.signature } : {}), ...(part.redacted !== undefined ? { redacted: part.redacted } : {}),
        });
        break;
      case "tool-call":
        events.push({ type: "tool-call-start", index: toolIndex, id: part.id, name: part.name, ...(part.signature ? { signature: part.signature } : {}) });
        if (part.arguments) events.push({ type: "tool-call-delta", index: toolIndex, argumentsDelta: part.arguments });
        toolIndex++;
        break;
      case "image":
      case "tool-result":
        break; // not produced by a model turn
    }
  }
  events.push({ type: "finish", finishReason: response.finishReason });
  if (response.usage) events.push({ type: "usage", usage: response.usage });
  return events;
}

/** Gathers stream events into one response; an error event becomes the result. */
export class ResponseCollector {
  private id = "";
  private model = "";
  private created = 0;
  /** The parts in the order they began; text and reasoning deltas extend the last open part. */
  private readonly parts: Part[] = [];
  private readonly tools = new Map<number, ToolCallPart>();
  finishReason: FinishReason | undefined;
  usage: Usage | undefined;
  error: GatewayError | undefined;
  /** Characters the model has produced so far (text, reasoning, tool arguments). */
  outputChars = 0;

  add(event: StreamEvent): void {
    const last = this.parts.at(-1);
    switch (event.type) {
      case "start":
        this.id = event.id;
        this.model = event.model;
        this.created = event.created;
        break;
      case "text-delta":
        this.outputChars += event.text.length;
        if (last?.type === "text") last.text += event.text;
        else this.parts.push({ type: "text", text: event.text });
        break;
      case "reasoning-delta":
        this.outputChars += event.text.length;
        if (event.redacted !== undefined) {
          this.parts.push({ type: "reasoning", text: "", redacted: event.redacted });
          break;
        }
        // A signature closes a reasoning block: what follows is a new block with its own.
        if (last?.type === "reasoning" && last.signature === undefined && last.redacted === undefined) last.text += event.text;
        else this.parts.push({ type: "reasoning", text: event.text });
        if (event.signature) (this.parts.at(-1) as ReasoningPart).signature = event.signature;
        break;
      case "tool-call-start": {
        const tool: ToolCallPart = { type: "tool-call", id: event.id, name: event.name, arguments: "", ...(event.signature ? { signature: event.signature } : {}) };
        this.tools.set(event.index, tool);
        this.parts.push(tool);
        break;
      }
      case "tool-call-delta": {
        const tool = this.tools.get(event.index);
        this.outputChars += event.argumentsDelta.length;
        if (tool) tool.arguments += event.argumentsDelta;
        break;
      }
      case "finish":
        this.finishReason = event.finishReason;
        break;
      case "usage":
        this.usage = cleanUsage(event.usage);
        break;
      case "error":
        this.error = event.error;
        break;
    }
  }

  response(): Response | GatewayError {
    if (this.error) return this.error;
    if (!this.finishReason) return gatewayError("upstream_invalid", "upstream stream ended before it finished");
    const content = this.parts.filter((part) => part.type !== "text" || part.text !== "");
    return {
      id: this.id, model: this.model, created: this.created, content, finishReason: this.finishReason,
      ...(this.usage ? { usage: this.usage } : {}),
    };
  }
}

export async function collect(events: AsyncIterable<StreamEvent>): Promise<Response | GatewayError> {
  const collector = new ResponseCollector();
  for await (const event of events) collector.add(event);
  return collector.response();
}
