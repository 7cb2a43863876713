/** A JSON value as people read it; long values fold away. */
export function Json({ value, folded = false, label = "JSON" }: { value: unknown; folded?: boolean; label?: string }) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2) ?? "null";
  if (!folded) return <pre class="json">{text}</pre>;
  return (
    <details class="fold">
      <summary>{label}</summary>
      <pre class="json">{text}</pre>
    </details>
  );
}
