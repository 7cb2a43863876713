/** An error with what the API says of it: code, layer, message (and the input path or retriability when known). */
export interface ShownError {
  code: string;
  message: string;
  layer?: string | null | undefined;
  path?: string | null | undefined;
  retriable?: boolean | null | undefined;
}

export function ErrorBox({ error, title }: { error: ShownError | null | undefined; title?: string }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert" data-testid="error">
      {title ? <div class="error-title">{title}</div> : null}
      <code class="error-code">{error.code}</code>
      {error.layer ? <span class="error-layer">layer {error.layer}</span> : null}
      {error.retriable === true ? <span class="error-layer">retriable</span> : null}
      <span class="error-message">{error.message}</span>
      {error.path ? <span class="error-path">at {error.path}</span> : null}
    </div>
  );
}
