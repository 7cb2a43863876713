import { useReducer } from "preact/hooks";
import { type ExecutionOutputSubscription, ExecutionOutputDocument } from "../generated/graphql";
import { useSubscription } from "./useSubscription";

type OutputEvent = ExecutionOutputSubscription["executionOutput"];

/** One output field of one module call, as written so far. */
export interface StreamedField {
  step: string;
  module: string | null;
  field: string;
  text: string;
  /** The module call ended: `text` is now its parsed output, the truth. */
  settled: boolean;
  /** DSPy asked the LM again (its JSON fallback): what was streamed of this call does not stand. */
  superseded: boolean;
}

export interface StreamedOutput {
  attempt: number;
  /** The last DELTA/STATUS seq applied in `attempt`: replays after a reconnect are skipped. */
  seq: number;
  fields: StreamedField[];
  /** STATUS messages and TRANSITIONs, for the activity line. */
  activity: string[];
  final: OutputEvent | undefined;
}

const EMPTY: StreamedOutput = { attempt: 0, seq: 0, fields: [], activity: [], final: undefined };

const asText = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));

/**
 * Folds executionOutput's events into the text of each (step, field): DELTAs append, a later attempt
 * starts over, a retry marks the call's text as superseded, module_end replaces it with the parsed
 * outputs, FINAL closes (README "Streaming outputs").
 */
export function reduceOutput(state: StreamedOutput, event: OutputEvent): StreamedOutput {
  if (event.attempt < state.attempt) return state;
  const base = event.attempt > state.attempt ? { ...EMPTY, attempt: event.attempt, final: state.final } : state;
  if (event.kind === "FINAL") return { ...base, final: event };
  if (event.kind === "TRANSITION") return { ...base, activity: [...base.activity, event.message ?? `→ ${event.status ?? ""}`] };
  if (event.seq <= base.seq) return base;
  const step = event.step ?? "";
  if (event.kind === "DELTA" && event.field) {
    const index = base.fields.findIndex((f) => f.step === step && f.field === event.field);
    const fields = [...base.fields];
    if (index < 0) fields.push({ step, module: event.module, field: event.field, text: event.text ?? "", settled: false, superseded: false });
    else fields[index] = { ...fields[index]!, text: fields[index]!.text + (event.text ?? "") };
    return { ...base, seq: event.seq, fields };
  }
  // STATUS
  let fields = base.fields;
  if (event.event === "retry") fields = fields.map((f) => (f.step === step ? { ...f, superseded: true } : f));
  if (event.event === "module_end" && event.outputs) {
    const outputs = event.outputs;
    fields = fields.map((f) => (f.step === step && f.field in outputs ? { ...f, text: asText(outputs[f.field]), settled: true, superseded: false } : f));
    for (const [field, value] of Object.entries(outputs)) {
      if (!fields.some((f) => f.step === step && f.field === field)) fields = [...fields, { step, module: event.module, field, text: asText(value), settled: true, superseded: false }];
    }
  }
  return { ...base, seq: event.seq, fields, activity: event.message ? [...base.activity, event.message] : base.activity };
}

export function useExecutionOutput(executionId: string) {
  const [output, dispatch] = useReducer(reduceOutput, EMPTY);
  const subscription = useSubscription(ExecutionOutputDocument, { id: executionId }, (data) => dispatch(data.executionOutput));
  return { output, error: subscription.error, completed: subscription.completed };
}
