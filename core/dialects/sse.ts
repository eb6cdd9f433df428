import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { SseEvent } from "./codec.ts";

// Server-sent events. Field parsing is eventsource-parser's; what it does not offer is the raw
// text of each event, which the same-dialect path forwards byte for byte. SseFramer cuts the
// stream at event boundaries (a blank line, with LF, CRLF or CR line endings).

export class SseFramer {
  private buffer = "";

  /** Feed text; returns the complete events' raw text as one string (no per-event work). */
  take(text: string): string {
    this.buffer += text;
    const s = this.buffer;
    const end = s.includes("\r") ? splitEvents(s).end : lastLfBoundary(s);
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
