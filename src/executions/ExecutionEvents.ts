import type { Execution, ExecutionEvent } from "../../entities/index.js";
import type { EventBus } from "../pubsub.js";

export const EXECUTION_UPDATED = "EXECUTION_UPDATED";

/**
 * What travels on the bus for every transition: the execution as the transition left it (so a
 * subscriber sees outputs and errors exactly as of that transition, whatever happened since) and
 * the transition itself.
 */
export interface ExecutionUpdate {
  tenantId: string;
  programId: string;
  execution: Execution;
  event: ExecutionEvent;
}

export function publishExecutionUpdate(bus: EventBus, execution: Execution, event: ExecutionEvent): void {
  bus.publish(EXECUTION_UPDATED, { tenantId: execution.tenantId, programId: execution.programId, execution, event } satisfies ExecutionUpdate);
}
