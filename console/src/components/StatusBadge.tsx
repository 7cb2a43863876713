/** A run's status (executions, evaluations, optimizations share ExecutionStatus), coloured by kind. */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`status status-${status.toLowerCase()}`} data-testid="status">
      {status}
    </span>
  );
}

export const UNFINISHED = new Set(["PENDING", "RUNNING"]);
export const STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"] as const;
