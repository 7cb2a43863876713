"""Limits of a program definition; the same numbers as DEFINITION_LIMITS in src/programs/definition/types.ts."""

MAX_BYTES = 65536
MAX_MODULES = 32
MAX_STEPS = 64
MAX_FIELDS_PER_SIGNATURE = 32
MAX_NAME_LENGTH = 64
MAX_INSTRUCTIONS_LENGTH = 8192
MAX_ENUM_VALUES = 100
MAX_DESC_LENGTH = 1000
# list[...] nesting in a field type.
MAX_LIST_NESTING = 4
# JSON nesting of the whole definition; guards recursion and cyclic input.
MAX_DEPTH = 32
