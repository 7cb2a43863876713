import { type Execution, type ExecutionEvent, ExecutionStatus } from "../../entities/index.js";
import { type EventBus, filtered, listen } from "../pubsub.js";
import { type ExecutionOutputMessage, isOutputMessage } from "./ExecutionOutput.js";

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
  const update: ExecutionUpdate = { tenantId: execution.tenantId, programId: execution.programId, execution, event };
  // On the execution's own topic, so that whoever follows one execution (`wait`, executionUpdated) is
  // not woken by every other execution's transitions: with N of them waiting, a transition would
  // otherwise cost N wake-ups, and N executions N².
  bus.publish(EXECUTION_UPDATED, execution.id, update);
  // On its program's, for executionEvents(programId): filtered once here, not once per subscriber.
  bus.publish(EXECUTION_UPDATED, programTopic(execution.programId), update);
  // On the topic of all executions, cancellations only: every instance's runner watches it for the
  // attempts it runs. With every transition there, each instance read every transition of the cluster.
  if (event.to === ExecutionStatus.CANCELLED) bus.publish(EXECUTION_UPDATED, update);
}

/** The topic id of one program's executions (ids are UUIDs either way; the prefix keeps them apart from executions'). */
function programTopic(programId: string): string {
  return `program:${programId}`;
}

/** The updates of every execution of one program, subscribed at once. */
export function listenToProgram(bus: EventBus, programId: string): AsyncIterableIterator<ExecutionUpdate> {
  return listen<ExecutionUpdate>(bus, EXECUTION_UPDATED, programTopic(programId));
}

/** The updates of one execution (see publishExecutionUpdate), subscribed at once (`listen`). */
export function listenToExecution(bus: EventBus, executionId: string): AsyncIterableIterator<ExecutionUpdate> {
  return filtered(listenToExecutionAndOutput(bus, executionId), (m): m is ExecutionUpdate => !isOutputMessage(m)) as AsyncIterableIterator<ExecutionUpdate>;
}

/** The updates of one execution and, in order with them, the output its attempts publish (ExecutionOutput.ts). */
export function listenToExecutionAndOutput(bus: EventBus, executionId: string): AsyncIterableIterator<ExecutionUpdate | ExecutionOutputMessage> {
  return listen<ExecutionUpdate | ExecutionOutputMessage>(bus, EXECUTION_UPDATED, executionId);
}
