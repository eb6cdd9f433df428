import type { Codec, SseEvent, StreamDecoder } from "../dialects/codec.ts";
import { eachEvent, eventTooLarge, MAX_EVENT_CHARS, SseFieldParser, SseFramer, splitEvents } from "../dialects/sse.ts";
import { gatewayError, isGatewayError, type GatewayError } from "../errors.ts";
import type { StreamEvent } from "../ir.ts";
import { ResponseCollector } from "./ir-stream.ts";
import type { AttemptSignal } from "./upstream.ts";

// Streaming to the client. A source yields units: the bytes to send and the IR events they
// carry. The pump forwards them, keeps the tally (usage, finish, characters), and enforces the
// durability rule: the request's terminal event commits before the stream's last byte is sent.

export interface Unit {
  text: string;
  events: StreamEvent[];
  /** This unit ends the stream (e.g. `data: [DONE]`): commit the terminal event first. */
  last?: boolean;
}

export interface StreamSource {
  /** The next unit, or undefined when the upstream has ended. Throws on a broken upstream. */
  next(): Promise<Unit | undefined>;
  /** A unit already made, without waiting; undefined when the next one needs a read (then call next). */
  ready?(): Unit | undefined;
  /** Events owed at the upstream's end (an error if it ended before finishing). */
  end(): StreamEvent[];
  /** The client dialect's closing bytes for a stream that ended normally (e.g. `data: [DONE]`). */
  finalText(): string;
  /** Stop the upstream (client gone, or the pump is done). */
  close(): void;
  /**
   * The bytes that end this stream with an error the gateway found (a timeout, a budget), when
   * the source has a say: an encoder keeps its own numbering (the Responses API's
   * sequence_number) and closes what it opened (response.failed). Else the dialect's error event.
   */
  errorText?(error: GatewayError): string;
}

/** `sent`: characters of the response body already sent to the client. */
export type StreamOutcome =
  | { kind: "completed"; tally: ResponseCollector; sent: number }
  | { kind: "failed"; tally: ResponseCollector; sent: number; error: GatewayError }
  | { kind: "cancelled"; tally: ResponseCollector; sent: number };

export interface PumpHooks {
  /** Called once, before the first byte is sent. */
  firstByte(): void;
  /** Append the terminal event and resolve when it is committed. */
  terminal(outcome: StreamOutcome): Promise<void>;
  /** Called with each piece of text as it goes out (body capture). */
  sent?(text: string): void;
  /** Checked before each piece goes out: an error ends the stream with it (a key's budget ran out). */
  check?(tally: ResponseCollector): GatewayError | undefined;
}

const encoder = new TextEncoder();

export function pump(source: StreamSource, client: Codec, hooks: PumpHooks): ReadableStream<Uint8Array> {
  const tally = new ResponseCollector();
  const errorText = (error: GatewayError) => source.errorText?.(error) || client.encodeStreamError(error);
  let sent = 0;
  let done = false;

  const send = (controller: ReadableStreamDefaultController<Uint8Array>, text: string) => {
    if (!text) return;
    if (sent === 0) hooks.firstByte();
    sent += text.length;
    hooks.sent?.(text);
    controller.enqueue(encoder.encode(text));
  };

  /** The terminal event, whatever happens in recording it: the stream must still end. */
  const record = async (outcome: StreamOutcome) => {
    try {
      await hooks.terminal(outcome);
    } catch {
      // the hook settles the request in its own finally; nothing more can be done here
    }
  };

  const finish = async (controller: ReadableStreamDefaultController<Uint8Array>, outcome: StreamOutcome, tail: string) => {
    done = true;
    source.close();
    await record(outcome);
    send(controller, tail);
    controller.close();
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Loop until something was sent or the stream ended: comment-only or dropped units send nothing.
      // Units already made go out in the same pull; one that needs a read waits for the next pull.
      for (let sentHere = false; ;) {
        let unit = source.ready?.();
        try {
          if (unit === undefined) {
            if (sentHere) return;
            unit = await source.next();
          }
        } catch (error) {
          const failure = isGatewayError(error) ? error : gatewayError("upstream_error", "upstream stream broke off");
          if (failure.kind === "cancelled") return; // cancel() records it
          await finish(controller, { kind: "failed", tally, sent, error: failure }, errorText(failure));
          return;
        }
        if (!unit) {
          const tail = source.end();
          for (const event of tail) tally.add(event);
          // A stream that stops without saying it finished was cut short: never a clean end.
          const failure = tally.error ?? (tally.finishReason ? undefined : gatewayError("upstream_error", "upstream stream ended before it finished"));
          if (failure) await finish(controller, { kind: "failed", tally, sent, error: failure }, errorText(failure));
          else await finish(controller, { kind: "completed", tally, sent }, source.finalText());
          return;
        }
        for (const event of unit.events) tally.add(event);
        if (tally.error) {
          await finish(controller, { kind: "failed", tally, sent, error: tally.error }, unit.text);
          return;
        }
        if (unit.last) {
          await finish(controller, { kind: "completed", tally, sent }, unit.text);
          return;
        }
        const stop = hooks.check?.(tally);
        if (stop) {
          await finish(controller, { kind: "failed", tally, sent, error: stop }, errorText(stop));
          return;
        }
        if (unit.text) {
          send(controller, unit.text);
          sentHere = true;
        }
      }
    },
    async cancel() {
      if (done) return;
      done = true;
      source.close();
      await record({ kind: "cancelled", tally, sent });
    },
  });
}

/** The data of a raw SSE event that is one `data:` line (the common case), else undefined. */
function singleDataLine(raw: string): string | undefined {
  if (!raw.startsWith("data:")) return undefined;
  const eol = raw.indexOf("\n");
  // exactly `data:…\n\n`, LF only; anything else goes to the full parser
  if (eol !== raw.length - 2 || raw.charCodeAt(raw.length - 1) !== 10 || raw.includes("\r")) return undefined;
  return raw.slice(raw.charCodeAt(5) === 32 ? 6 : 5, eol);
}

/**
 * Where the first event of `events` (whole events, as SseFramer cuts them) starts that may say
 * something (the stream's end, a finish, usage or an error), or -1 when none may. Everything
 * before it is content to forward unread. Events framed with CR are not cut here: 0.
 */
export function firstSaying(events: string, significant: RegExp): number {
  const found = events.search(significant);
  const done = events.indexOf("[DONE]");
  const at = found < 0 ? done : done < 0 ? found : Math.min(found, done);
  if (at < 0) return -1;
  if (events.includes("\r")) return 0;
  // LF framing: a blank line ("\n\n") only ever ends an event.
  const boundary = events.lastIndexOf("\n\n", at);
  return boundary < 0 ? 0 : boundary + 2;
}

/**
 * Same dialect both ways: forward the upstream's bytes as they came, one unit per read, reading
 * only the events that can carry a finish, usage or an error.
 */
export function passthroughSource(
  body: OpenedBody,
  codec: Codec,
  signal: AttemptSignal,
  dropUsageOnly: boolean,
  /** Decode every event, not only those that may carry a finish, usage or error (to count output). */
  decodeAll = false,
): StreamSource {
  const { reader } = body;
  /** What openStream read and decoded, sent first. */
  let head: string | undefined = body.text;
  const readMany = (reader as { readMany?: () => Promise<{ done: boolean; value: Uint8Array[] }> }).readMany?.bind(reader);
  const decoder = codec.streamDecoder();
  const framer = new SseFramer();
  const fields = new SseFieldParser();
  const text = body.decoder;
  const significant = codec.streamSignificant;
  const pending: Unit[] = [];
  let ended = false;

  /**
   * `readAll`: decode every event, not only the significant ones (the unfinished tail at the end).
   * `before`: content that goes out ahead of these events, unread.
   */
  const toUnits = (rawEvents: string[], readAll = false, before = "") => {
    let out = before;
    let events: StreamEvent[] = [];
    for (const raw of rawEvents) {
      const done = raw.includes("[DONE]");
      if (!done && !decodeAll && !readAll && significant && !significant.test(raw)) {
        out += raw; // content only: forwarded, not read
        continue;
      }
      const simple = singleDataLine(raw);
      const parsed: SseEvent[] = simple !== undefined ? [{ data: simple }] : fields.feed(raw);
      if (parsed.some((event) => codec.streamEnds?.(event))) {
        // The dialect's end (data: [DONE], message_stop, response.completed): the terminal event
        // goes on record before it is sent (see pump), and nothing after it is read.
        if (out || events.length) pending.push({ text: out, events });
        pending.push({ text: raw, events: parsed.flatMap((event) => decoder.push(event)), last: true });
        return;
      }
      const decoded = parsed.flatMap((event) => decoder.push(event));
      const unreadable = decoded.find((e) => e.type === "error" && e.error.kind === "upstream_invalid");
      if (unreadable?.type === "error") {
        // Not forwarded as it came: a client would choke on it. The dialect's own error event instead.
        out += codec.encodeStreamError(unreadable.error);
        events = events.concat(decoded);
        continue;
      }
      const usageOnly = dropUsageOnly && decoded.some((e) => e.type === "usage") && decoded.every((e) => e.type === "usage" || e.type === "start");
      if (!usageOnly) out += raw;
      if (decoded.length) events = events.concat(decoded);
    }
    if (out || events.length) pending.push({ text: out, events });
  };

  return {
    async next() {
      while (pending.length === 0) {
        if (ended) return undefined;
        let bytes: string;
        let done = false;
        if (head !== undefined) {
          bytes = head;
          head = undefined;
        } else {
          signal.arm("idle");
          let chunk: { done: boolean; value?: Uint8Array | Uint8Array[] };
          try {
            // Bun's readMany takes every chunk already queued in one call: far fewer turns per stream.
            chunk = readMany ? await readMany() : await reader.read();
          } catch {
            throw signal.aborted ? signal.error() : gatewayError("upstream_error", "upstream stream broke off");
          } finally {
            signal.disarm();
          }
          // Many chunks at once are joined first: one decode, not one per chunk.
          const value = Array.isArray(chunk.value) ? (chunk.value.length === 1 ? chunk.value[0] : Buffer.concat(chunk.value)) : chunk.value;
          bytes = value && value.byteLength > 0 ? text.decode(value, { stream: true }) : "";
          done = chunk.done;
        }
        if (done && !bytes) {
          ended = true;
          // What is left after the last blank line still counts as an event.
          const rest = framer.take(text.decode()) + framer.rest();
          const { events, end } = splitEvents(rest);
          const tail = rest.slice(end);
          toUnits(events);
          // An event the upstream left unfinished is read, never passed on unread.
          if (tail) toUnits([`${tail}\n\n`], true);
          if (pending.length === 0) return undefined;
          break;
        }
        // Most reads carry only content: forward them whole. Split into events only from the
        // first event that may hold the end of the stream, a finish, usage or an error.
        const complete = framer.take(bytes);
        if (!complete) continue;
        const from = decodeAll || !significant ? 0 : firstSaying(complete, significant);
        if (from < 0) pending.push({ text: complete, events: [] });
        else if (from === 0) toUnits(splitEvents(complete).events);
        else toUnits(splitEvents(complete.slice(from)).events, false, complete.slice(0, from));
      }
      return pending.shift();
    },
    ready: () => pending.shift(),
    end: () => decoder.end(),
    finalText: () => codec.streamEncoder({ model: "", includeUsage: false }).end(),
    close() {
      signal.dispose();
      if (!ended) {
        ended = true;
        signal.abort("client");
        reader.cancel().catch(() => {});
      }
    },
  };
}

/** Another dialect upstream, or an executor's own events: encode each IR event for the client. */
export function irSource(events: AsyncIterable<StreamEvent>, client: Codec, options: { model: string; includeUsage: boolean }, signal?: AttemptSignal): StreamSource {
  const iterator = events[Symbol.asyncIterator]();
  const encode = client.streamEncoder(options);
  let ended = false;
  return {
    async next() {
      if (ended) return undefined;
      signal?.arm("idle");
      let result: IteratorResult<StreamEvent>;
      try {
        result = await iterator.next();
      } catch (error) {
        if (signal?.aborted) throw signal.error();
        throw isGatewayError(error) ? error : gatewayError("upstream_error", `stream failed: ${(error as Error)?.message ?? String(error)}`);
      } finally {
        signal?.disarm();
      }
      if (result.done) {
        ended = true;
        return undefined;
      }
      return { text: encode.encode(result.value), events: [result.value] };
    },
    end: () => [],
    finalText: () => encode.end(),
    errorText: (error) => encode.encode({ type: "error", error }),
    close() {
      signal?.dispose();
      if (!ended) {
        ended = true;
        signal?.abort("client");
        void iterator.return?.();
      }
    },
  };
}

/** An upstream SSE body being read: its reader, and the chunks already read from it (sent first). */
export interface OpenedBody {
  reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(reason?: unknown): Promise<void> };
  /** What was read so far, decoded: it goes first. */
  text: string;
  /** The decoder that read it, holding any UTF-8 sequence cut at the end of the last read: decode the rest with it. */
  decoder: TextDecoder;
}

/**
 * Read an upstream stream up to its first event (comments and pings skipped), within the timer
 * the caller armed. A stream that fails there — it ends, breaks off, or its first event is an
 * error — failed before anything reached the client, so the attempt fails and the next target
 * may answer; otherwise the body, with what was read kept to be sent first.
 */
export async function openStream(body: ReadableStream<Uint8Array>, codec: Codec, signal: AttemptSignal): Promise<{ ok: true; body: OpenedBody } | { ok: false; error: GatewayError }> {
  const reader = body.getReader();
  let read = "";
  const framer = new SseFramer();
  const fields = new SseFieldParser();
  const text = new TextDecoder();
  const decoder = codec.streamDecoder();
  const opened = () => ({ ok: true as const, body: { reader, text: read, decoder: text } });
  const fail = (error: GatewayError) => {
    reader.cancel().catch(() => {});
    return { ok: false as const, error };
  };
  for (;;) {
    let chunk: { done: boolean; value?: Uint8Array };
    try {
      chunk = await reader.read();
    } catch {
      return fail(signal.aborted ? signal.error() : gatewayError("upstream_error", "upstream stream broke off before its first event"));
    }
    if (chunk.done || !chunk.value) return fail(gatewayError("upstream_error", "upstream stream ended before its first event"));
    let complete: string;
    try {
      const decoded = text.decode(chunk.value, { stream: true });
      read += decoded;
      complete = framer.take(decoded);
    } catch (error) {
      return fail(isGatewayError(error) ? error : gatewayError("upstream_invalid", "upstream sent an unreadable stream"));
    }
    if (!complete) continue;
    // Event by event, and only up to the first that says something: a read often holds the
    // whole answer, whose content events passthroughSource forwards without parsing them.
    let seen = false;
    for (const raw of eachEvent(complete)) {
      const simple = singleDataLine(raw);
      const events: SseEvent[] = simple !== undefined ? [{ data: simple }] : fields.feed(raw);
      if (events.length === 0) continue; // comments only (keep-alive pings)
      seen = true;
      for (const event of events) {
        const first = decoder.push(event).find((decoded) => decoded.type !== "start");
        if (first?.type === "error") return fail(first.error);
        if (first) return opened();
        if (codec.streamEnds?.(event)) return fail(gatewayError("upstream_error", "upstream stream ended before its first event"));
      }
    }
    // Events, but only starts (message_start, a role-only chunk): an answer has begun.
    if (seen) return opened();
  }
}

/** Upstream SSE of any dialect → IR events, through that dialect's decoder. */
export async function* decodeSse(body: OpenedBody, decoder: StreamDecoder, ends?: (event: SseEvent) => boolean): AsyncGenerator<StreamEvent> {
  const fields = new SseFieldParser();
  const { reader, decoder: text } = body;
  let head: string | undefined = body.text;
  try {
    // Characters read since an event last completed: one event may not grow past the cap.
    let open = 0;
    for (;;) {
      let chunk: string;
      if (head !== undefined) {
        chunk = head;
        head = undefined;
      } else {
        const { done, value } = await reader.read();
        if (done) break;
        chunk = text.decode(value, { stream: true });
      }
      const events = fields.feed(chunk);
      open = events.length > 0 ? 0 : open + chunk.length;
      if (open > MAX_EVENT_CHARS) throw eventTooLarge();
      for (const event of events) {
        yield* decoder.push(event);
        // The upstream's explicit end: the answer is whole, whether or not it closes the body now.
        if (ends?.(event)) {
          yield* decoder.end();
          return;
        }
      }
    }
    for (const event of fields.feed(text.decode())) yield* decoder.push(event);
    for (const event of fields.end()) yield* decoder.push(event);
    yield* decoder.end();
  } finally {
    reader.cancel().catch(() => {});
  }
}
