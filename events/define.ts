import type { Static, TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";

/** An event type: declared once with its schema; nothing else is needed to append it. */
export interface EventDefinition<T extends string = string, S extends TSchema = TSchema> {
  type: T;
  schema: S;
  check: TypeCheck<S>;
}

export function defineEvent<T extends string, S extends TSchema>(type: T, schema: S): EventDefinition<T, S> {
  return { type, schema, check: TypeCompiler.Compile(schema) };
}

export type EventData<D extends EventDefinition> = Static<D["schema"]>;

/** One committed event. `seq` is gap-free and increasing; events are never changed. */
export interface EventRecord<T extends string = string, D = unknown> {
  seq: number;
  id: string;
  type: T;
  /** ms since epoch */
  at: number;
  data: D;
}

/** Narrow a record to one event type, with its data typed by the schema. */
export function isEvent<D extends EventDefinition>(
  record: EventRecord,
  definition: D,
): record is EventRecord<D["type"], EventData<D>> {
  return record.type === definition.type;
}
