export * from "./types.js";
export { validateProgramDefinition } from "./validateProgramDefinition.js";
export { checkValue, formatFieldType, inferLiteralType, parseFieldType, typesEqual, type TypeParse } from "./fieldTypes.js";
export { parseCompactSignature, type CompactField, type CompactParse } from "./compactSignature.js";
