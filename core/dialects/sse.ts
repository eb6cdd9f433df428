import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { SseEvent } from "./codec.ts";
import { gatewayError, type GatewayError } from "../errors.ts";

// Server-sent events. Field parsing is eventsource-parser's; what it does not offer is the raw
// text of each event, which the same-dialect path forwards byte for byte. SseFramer cuts the
// stream at event boundaries (a blank line, with LF, CRLF or CR line endings).

/** The longest an upstream's SSE event may be (RELIABILITY: an event over 8 MiB is refused). */
export const MAX_EVENT_CHARS = 8 * 1024 * 1024;

/** Thrown (as the stream's error) when an upstream's event grows past MAX_EVENT_CHARS. */
export function eventTooLarge(): GatewayError {
  return gatewayError("upstream_invalid", `upstream sent a stream event larger than ${MAX_EVENT_CHARS / 1024 / 1024} MiB`);
}

export class SseFramer {
  private buffer = "";
  /** Whether a CR has been seen (CR or CRLF framing): then events are split line by line. */
  private cr = false;

  /**
   * Feed text; returns the complete events' raw text as one string (no per-event work). Only the
   * new text is searched for a boundary (the buffer holds no complete event), so a long event
   * arriving in many reads costs its length, not its length squared. Throws when an event grows
   * past MAX_EVENT_CHARS.
   */
  take(text: string): string {
    const before = this.buffer.length;
    this.buffer += text;
    if (!this.cr && text.includes("\r")) this.cr = true;
    const s = this.buffer;
    let end: number;
    if (this.cr) end = splitEvents(s).end;
    else end = s.indexOf("\n\n", Math.max(0, before - 1)) < 0 ? 0 : lastLfBoundary(s);
    if (s.length - end > MAX_EVENT_CHARS) throw eventTooLarge();
    this.buffer = s.slice(end);
    return s.slice(0, end);
  }

  /** Text after the last complete event (a stream that ended without a blank line). */
  rest(): string {
    const rest = this.buffer;
    this.buffer = "";
    return rest;
  }
}

function lastLfBoundary(s: string): number {
  const at = s.lastIndexOf("\n\n");
  return at < 0 ? 0 : at + 2;
}

/** Complete events in `s` and where the last one ends. */
export function splitEvents(s: string): { events: string[]; end: number } {
  const events: string[] = [];
  // Fast path: LF-only streams (nearly all upstreams) split on "\n\n" with native search.
  if (!s.includes("\r")) {
    let start = 0;
    for (let end = s.indexOf("\n\n"); end >= 0; end = s.indexOf("\n\n", start)) {
      events.push(s.slice(start, end + 2));
      start = end + 2;
    }
    return { events, end: start };
  }
  let start = 0;
  let i = 0;
  let lineStart = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== 10 && c !== 13) {
      i++;
      continue;
    }
    // A CR at the very end may be the first half of CRLF: wait for more.
    if (c === 13 && i === s.length - 1) break;
    const end = c === 13 && s.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
    if (i === lineStart) {
      // an empty line: the event that began at `start` ends here
      events.push(s.slice(start, end));
      start = end;
    }
    i = end;
    lineStart = end;
  }
  return { events, end: start };
}

/** The complete events in `s`, one at a time, as splitEvents cuts them (without cutting them all first). */
export function* eachEvent(s: string): Generator<string> {
  if (s.includes("\r")) {
    yield* splitEvents(s).events;
    return;
  }
  let start = 0;
  for (let end = s.indexOf("\n\n"); end >= 0; end = s.indexOf("\n\n", start)) {
    yield s.slice(start, end + 2);
    start = end + 2;
  }
}

/** Parses the fields of raw SSE text, event by event; one instance per stream. */
export class SseFieldParser {
  private readonly parsed: SseEvent[] = [];
  private readonly parser = createParser({
    onEvent: (message: EventSourceMessage) => {
      this.parsed.push({ data: message.data, ...(message.event ? { event: message.event } : {}), ...(message.id ? { id: message.id } : {}) });
    },
  });

  /** Feed text; returns the events completed by it (none for comment-only text). */
  feed(text: string): SseEvent[] {
    this.parser.feed(text);
    return this.parsed.splice(0);
  }

  /** End of stream: an event without its trailing blank line still counts. */
  end(): SseEvent[] {
    this.parser.feed("\n\n");
    return this.parsed.splice(0);
  }
}

/** `data: …\n\n` for one event. */
export function sseData(data: string, event?: string): string {
  return `${event ? `event: ${event}\n` : ""}data: ${data}\n\n`;
}
