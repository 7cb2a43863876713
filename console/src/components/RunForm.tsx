import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/errors";
import { ExecuteProgramDocument, type ExecutionRowFragment, ProgramInputsDocument } from "../generated/graphql";
import { useMutation } from "../hooks/useMutation";
import { useQuery } from "../hooks/useQuery";
import { ErrorBox } from "./ErrorBox";

/** A starting value per declared input type, so the form opens with the shape the version expects. */
function placeholderFor(type: unknown): unknown {
  const name = typeof type === "string" ? type : typeof type === "object" && type !== null ? (type as { type?: unknown }).type : undefined;
  if (typeof name !== "string") return null;
  if (name === "str") return "";
  if (name === "int" || name === "float") return 0;
  if (name === "bool") return false;
  if (name.startsWith("list")) return [];
  if (name.startsWith("dict")) return {};
  return null;
}

function inputsTemplate(definition: unknown): string {
  const inputs = typeof definition === "object" && definition !== null ? (definition as { inputs?: unknown }).inputs : undefined;
  if (typeof inputs !== "object" || inputs === null) return "{}";
  return JSON.stringify(Object.fromEntries(Object.entries(inputs).map(([name, type]) => [name, placeholderFor(type)])), null, 2);
}

/** Starts an execution of a program's current version (queued; the views follow it live). */
export function RunForm({ programs, programId, onStarted }: { programs: { id: string; name: string }[]; programId?: string; onStarted(execution: ExecutionRowFragment): void }) {
  const [picked, setPicked] = useState<string | undefined>();
  // The one picked here, else the page's program, else the first (the list may arrive after the form).
  const chosen = picked ?? programId ?? programs[0]?.id ?? "";
  const program = useQuery(ProgramInputsDocument, chosen ? { id: chosen } : null);
  const [inputs, setInputs] = useState("{}");
  const [localError, setLocalError] = useState<ApiError | undefined>();
  const execute = useMutation(ExecuteProgramDocument);
  // A new template (another program, another current version) replaces what was typed.
  const template = inputsTemplate(program.data?.program?.currentVersion?.definition);
  useEffect(() => setInputs(template), [template]);

  const submit = async (event: Event) => {
    event.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(inputs);
    } catch (error) {
      setLocalError(new ApiError("BAD_JSON", `the inputs are not JSON: ${error instanceof Error ? error.message : String(error)}`, { path: "inputs" }));
      return;
    }
    setLocalError(undefined);
    const started = await execute.run({ input: { programId: chosen, inputs: parsed } });
    if (started) onStarted(started.executeProgram);
  };

  return (
    <form class="run-form" onSubmit={submit} aria-label="Run a program">
      {programs.length > 1 || !programId ? (
        <label>
          Program
          <select name="run-program" value={chosen} onChange={(e) => setPicked(e.currentTarget.value)}>
            {programs.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <label>
        Inputs {program.data?.program?.currentVersion ? <span class="muted">(current version v{program.data.program.currentVersion.number})</span> : null}
        <textarea name="inputs" rows={4} spellcheck={false} value={inputs} onInput={(e) => setInputs(e.currentTarget.value)} />
      </label>
      <button type="submit" data-testid="run" disabled={execute.running || chosen === ""}>
        {execute.running ? "Starting…" : "Run"}
      </button>
      <ErrorBox error={localError ?? execute.error ?? program.error} title="Not started" />
    </form>
  );
}
