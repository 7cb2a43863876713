/** A progress bar with its figures; without a total, the figures alone. */
export function Progress({ done, total, label }: { done: number; total: number | null | undefined; label?: string }) {
  const share = total ? Math.min(1, done / total) : undefined;
  return (
    <span class="progress" data-testid="progress">
      {share !== undefined ? (
        <span class="bar">
          <span style={{ width: `${(share * 100).toFixed(1)}%` }} />
        </span>
      ) : null}
      <span>{label ?? (total ? `${done} / ${total}` : `${done}`)}</span>
    </span>
  );
}
