"""Program definitions: validation and normalization, ported from src/programs/definition/ (TypeScript).

The worker validates again what TypeScript validated before storing, with the same rules, paths
(root "definition") and reasons; see validate.py. That includes the field names DSPy cannot take
(dspy_names.py), which both sides reject.
"""

from .compact import parse_compact_signature
from .field_types import check_value, format_field_type, infer_literal_type, parse_field_type, types_equal
from .inputs import validate_program_inputs
from .validate import ValidationResult, validate_program_definition

__all__ = [
    "ValidationResult",
    "check_value",
    "format_field_type",
    "infer_literal_type",
    "parse_compact_signature",
    "parse_field_type",
    "types_equal",
    "validate_definition",
    "validate_program_definition",
    "validate_program_inputs",
]


def validate_definition(definition, root_path: str = "definition") -> ValidationResult:
    """What the worker checks a definition with: the TypeScript rules (validate_program_definition)."""
    return validate_program_definition(definition, root_path)
