import { validateProgramDefinition, type NormalizedProgram } from "../programs/definition/index.js";
import { inputsJsonSchema } from "../programs/validateProgramInputs.js";

/**
 * Reads a definition (JSON) on stdin and prints its normalized program, or `{"issues": [...]}`; with
 * `--inputs-schema`, reads a normalized program and prints the inputs schema sent with it. How the
 * worker's own tests (bridge-py/tests) get programs in the form the server sends.
 */
const chunks: Buffer[] = [];
process.stdin.on("data", (chunk: Buffer) => chunks.push(chunk));
process.stdin.on("end", () => {
  const input: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  if (process.argv.includes("--inputs-schema")) {
    process.stdout.write(JSON.stringify(inputsJsonSchema(input as NormalizedProgram)));
    return;
  }
  const result = validateProgramDefinition(input);
  process.stdout.write(JSON.stringify(result.ok ? result.program : { issues: result.issues }));
});
