import type { EventBus } from "../pubsub.js";

export const PROGRAM_CHANGED = "PROGRAM_CHANGED";

export type ProgramChangeKind = "CREATED" | "UPDATED" | "DELETED";

/** What travels on the bus: ids only; subscribers load what they may see. */
export interface ProgramChangedEvent {
  kind: ProgramChangeKind;
  tenantId: string;
  programId: string;
  /** The program's lock version after the change. */
  version: number;
  /** Set when the change created a new ProgramVersion. */
  newVersionId: string | null;
  at: string;
}

export function publishProgramChanged(bus: EventBus, event: Omit<ProgramChangedEvent, "at">): void {
  bus.publish(PROGRAM_CHANGED, { ...event, at: new Date().toISOString() } satisfies ProgramChangedEvent);
}
