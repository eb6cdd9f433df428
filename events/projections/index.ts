import type { EventLog } from "../log.ts";
import type { EventRecord } from "../define.ts";
import { loadSnapshot, projectionsVersion, writeSnapshot, type SnapshotWritten } from "../snapshot.ts";
import { conversations, type ConversationsState } from "./conversations.ts";
import { health, type HealthState } from "./health.ts";
import { fold, type Projection } from "./projection.ts";
import { keys, type KeysState } from "./keys.ts";
import { requests, type RequestsState } from "./requests.ts";
import { routing, type RoutingState } from "./routing.ts";
import { signatures, type SignaturesState } from "./signatures.ts";
import { tokenAccuracy, type TokenAccuracyState } from "./token-accuracy.ts";
import { usage, type UsageState } from "./usage.ts";
import { usageRollup, type UsageRollupState } from "./usage-rollup.ts";

export { fold, type Projection } from "./projection.ts";
export { health, availability, type HealthState, type Health, type Availability } from "./health.ts";
export { routing, type RoutingState } from "./routing.ts";
export { requests, requestsProjection, type RequestsState, type RequestSummary, type RequestFilter } from "./requests.ts";
export { keys, periodOf, spentBy, type KeysState, type CallerKey, type Spend } from "./keys.ts";
export { usage, type UsageState, type ModelUsage } from "./usage.ts";
export { usageRollup, type UsageRollupState, type UsageBucket } from "./usage-rollup.ts";
export { conversations, type ConversationsState, type StoredTurn } from "./conversations.ts";
export { signatures, type SignaturesState, type StoredSignatures } from "./signatures.ts";
export { tokenAccuracy, calibration, CALIBRATION_SAMPLES, type TokenAccuracyState, type TokenAccuracy } from "./token-accuracy.ts";

/** Every projection Sluice keeps live and rebuilds on replay. */
export const projections = [usage, health, routing, keys, conversations, signatures, tokenAccuracy, usageRollup, requests] as const;

/** The state of every projection, by name. */
export interface ProjectionStates {
  usage: UsageState;
  health: HealthState;
  routing: RoutingState;
  keys: KeysState;
  conversations: ConversationsState;
  signatures: SignaturesState;
  tokenAccuracy: TokenAccuracyState;
  usageRollup: UsageRollupState;
  requests: RequestsState;
}

function step(states: Record<string, unknown>, event: EventRecord): void {
  for (const projection of projections) {
    states[projection.name] = (projection as Projection<unknown>).evolve(states[projection.name], event);
  }
}

function initialStates(): Record<string, unknown> {
  return Object.fromEntries(projections.map((p) => [p.name, p.initial()])) as Record<string, unknown>;
}

/** Fold every projection over the given events from their initial states. */
export function rebuild(events: Iterable<EventRecord>): ProjectionStates {
  const states = initialStates();
  for (const event of events) step(states, event);
  return states as unknown as ProjectionStates;
}

/** The version snapshots of the current projection code carry (see events/snapshot.ts). */
export const snapshotVersion = (): string => projectionsVersion(projections);

/** How a state was arrived at. */
export interface Restored {
  /** The states are those after this seq. */
  seq: number;
  /** "snapshot": a snapshot and the events after it; "events": every event from seq 1. */
  from: "snapshot" | "events";
  /** The snapshot's seq (0 without one). */
  snapshotSeq: number;
  /** Events folded (after the snapshot, or all of them). */
  folded: number;
  /** Whether events moved out by `sluice archive` had to be read from their archive files. */
  readArchives: boolean;
  ms: number;
}

/**
 * Every projection's state after event `seq` (default: the log's last): the newest snapshot made
 * by this code at or below `seq`, then the events after it, read from archive files for what
 * `sluice archive` moved out of the live log. Throws (EventLogError) if events it needs are in
 * neither. The same states as `rebuild` over events 1…seq.
 */
export function statesAt(log: EventLog, seq = log.lastSeq): Restored & { states: ProjectionStates } {
  const started = performance.now();
  const snapshot = loadSnapshot(log, projections, { maxSeq: seq });
  const states = snapshot ? snapshot.states : initialStates();
  const after = snapshot?.seq ?? 0;
  let folded = 0;
  for (const event of log.range(after, seq)) {
    step(states, event);
    folded++;
  }
  return {
    states: states as unknown as ProjectionStates, seq,
    from: snapshot ? "snapshot" : "events", snapshotSeq: after, folded,
    readArchives: after + 1 < log.firstSeq && after < seq,
    ms: Math.round(performance.now() - started),
  };
}

/** Events between periodic snapshots. Folding 100 000 events costs about a second at start-up. */
export const SNAPSHOT_EVERY = 100_000;

export type SnapshotReport =
  | ({ ok: true; reason: "periodic" | "stop" | "boot" } & SnapshotWritten)
  | { ok: false; reason: "periodic" | "stop" | "boot"; seq: number; error: string };

export interface LiveOptions {
  /** Write a snapshot once this many events were folded since the last one; 0 never. Default SNAPSHOT_EVERY. */
  snapshotEvery?: number;
  /** Write a snapshot in stop() if anything was folded since the last one. Default true. */
  snapshotOnStop?: boolean;
  /** Told of every snapshot written or failed (for the logger). */
  onSnapshot?: (report: SnapshotReport) => void;
}

/**
 * Projections kept up to date as events commit: restored once at start (the newest snapshot and
 * the events after it, or every event), then folded live. Snapshots are written after every
 * `snapshotEvery` events (in a timer after the commit that crossed the mark, not inside it)
 * and at stop(), so the next start folds little.
 */
export class LiveProjections {
  private states: Record<string, unknown>;
  private readonly unsubscribe: () => void;
  /** The seq of the last event folded into `states`. */
  private seq: number;
  /** The seq of the newest snapshot written or restored (or attempted). */
  private snapshotSeq: number;
  private timer: Timer | undefined;
  private stopped = false;
  private readonly every: number;
  /** How the states were restored at start. */
  readonly restored: Restored;

  constructor(private readonly log: EventLog, private readonly options: LiveOptions = {}) {
    const { states, ...restored } = statesAt(log);
    this.states = states as unknown as Record<string, unknown>;
    this.restored = restored;
    this.seq = restored.seq;
    this.snapshotSeq = restored.snapshotSeq;
    this.every = options.snapshotEvery ?? SNAPSHOT_EVERY;
    this.unsubscribe = log.subscribe((event) => {
      step(this.states, event);
      this.seq = event.seq;
      if (this.every > 0 && this.seq - this.snapshotSeq >= this.every) this.schedule("periodic");
    });
    // A long fold at start (no snapshot, or an old one): snapshot soon, so the next start is quick.
    if (this.every > 0 && restored.folded >= this.every) this.schedule("boot");
  }

  private schedule(reason: "periodic" | "boot"): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writeSnapshot(reason);
    }, 0);
  }

  /** Write a snapshot of the states now (at the last seq folded); reported, never thrown. */
  writeSnapshot(reason: "periodic" | "stop" | "boot" = "periodic"): SnapshotReport | undefined {
    if (this.log.isClosed || this.log.isReadonly) return undefined;
    this.log.deliver();
    const seq = this.seq;
    this.snapshotSeq = seq; // a failure is retried after another `every` events, not at each one
    let report: SnapshotReport;
    try {
      report = { ok: true, reason, ...writeSnapshot(this.log, seq, this.states, projections) };
    } catch (error) {
      report = { ok: false, reason, seq, error: (error as Error)?.message?.split("\n")[0] ?? String(error) };
    }
    try {
      this.options.onSnapshot?.(report);
    } catch {
      // a reporter's failure is not the snapshot's
    }
    return report;
  }

  /** A projection's state, with every committed event folded (the log delivers what it holds back). */
  get<K extends keyof ProjectionStates>(name: K): ProjectionStates[K] {
    this.log.deliver();
    return this.states[name as string] as ProjectionStates[K];
  }

  snapshot(): ProjectionStates {
    this.log.deliver();
    return { ...this.states } as unknown as ProjectionStates;
  }

  /** The seq of the last event folded. */
  get lastSeq(): number {
    this.log.deliver();
    return this.seq;
  }

  /** Stop folding; first commit what is queued and snapshot the states (unless nothing changed). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if ((this.options.snapshotOnStop ?? true) && !this.log.isClosed && !this.log.isReadonly) {
      this.log.flush();
      this.log.deliver();
      if (this.seq > this.snapshotSeq) this.writeSnapshot("stop");
    }
    this.unsubscribe();
  }
}
