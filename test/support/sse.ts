import { createParser } from "eventsource-parser";
import type { SseEvent } from "../../core/dialects/codec.ts";

export type { SseEvent };

/** Every event of a complete SSE text (a fixture file, or an encoder's output), comments skipped. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent(message) {
      const event: SseEvent = { data: message.data };
      if (message.event !== undefined) event.event = message.event;
      if (message.id !== undefined) event.id = message.id;
      events.push(event);
    },
  });
  parser.feed(text);
  // A last event without its blank line still counts, as it does for a live stream's end.
  parser.feed("\n\n");
  return events;
}
