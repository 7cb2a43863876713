import path from "node:path";
import { fileURLToPath } from "node:url";

/** bridge-py/ and its venv's interpreter, found from this compiled file (dist/src/workers/). */
export const BRIDGE_DIR = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../bridge-py");
export const BRIDGE_PYTHON = path.join(BRIDGE_DIR, ".venv", "bin", "python");
