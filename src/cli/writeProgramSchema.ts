import fs from "node:fs";
import path from "node:path";
import { programSchemaJson } from "../programs/definition/programSchemaJson.js";
import { BRIDGE_DIR } from "../workers/bridgePaths.js";

/** `npm run schema`: writes the normalized program's JSON Schema where the worker reads it. */
const target = path.join(BRIDGE_DIR, "dspy_bridge", "program.schema.json");
fs.writeFileSync(target, programSchemaJson());
console.log(`wrote ${target}`);
