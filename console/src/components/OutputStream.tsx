import type { StreamedOutput } from "../hooks/useExecutionOutput";

/** Each module call's output fields as they are written; a caret while the text may still grow. */
export function OutputStream({ output, running }: { output: StreamedOutput; running: boolean }) {
  const steps = [...new Set(output.fields.map((f) => f.step))];
  if (steps.length === 0) return <p class="muted">{running ? "Waiting for output…" : "No streamed output."}</p>;
  return (
    <div class="output-stream">
      {output.attempt > 1 ? <p class="muted">Attempt {output.attempt}</p> : null}
      {steps.map((step) => (
        <div key={step} class="output-step">
          <div class="output-step-name">
            {step} <span class="muted">{output.fields.find((f) => f.step === step)?.module ?? ""}</span>
          </div>
          {output.fields
            .filter((f) => f.step === step)
            .map((f) => (
              <div key={f.field} class={`output-field${f.superseded ? " superseded" : ""}`}>
                <span class="field-name">{f.field}</span>
                <pre data-testid="output-field" data-field={f.field} data-step={f.step} class={running && !f.settled ? "streaming" : ""}>
                  {f.text}
                </pre>
                {f.superseded ? <span class="muted small">asked again (JSON fallback): this text does not stand</span> : null}
              </div>
            ))}
        </div>
      ))}
    </div>
  );
}
