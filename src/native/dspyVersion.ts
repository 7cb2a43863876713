/**
 * The DSPy release src/native reproduces (bridge-py/requirements.txt pins the same): its ChatAdapter's
 * messages and parsing, character for character. test/nativeConformance.test.ts fails when the
 * installed DSPy is another one, so the two are updated together.
 */
export const DSPY_VERSION = "3.4.1";
