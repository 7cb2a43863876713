"""Program definitions: validation and normalization, ported from src/programs/definition/ (TypeScript).

The worker validates again what TypeScript validated before storing, with the same rules, paths
(root "definition") and reasons; see validate.py. `dspy_field_name_issues` adds the few rules only
DSPy's Python side can know.
"""

from .compact import parse_compact_signature
from .dspy_names import dspy_field_name_issues
from .field_types import check_value, format_field_type, infer_literal_type, parse_field_type, types_equal
from .inputs import validate_program_inputs
from .validate import ValidationResult, validate_program_definition

__all__ = [
    "ValidationResult",
    "check_value",
    "dspy_field_name_issues",
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
    """The TypeScript rules, then DSPy's field-name rules on a definition that passed them."""
    result = validate_program_definition(definition, root_path)
    if not result.ok:
        return result
    extra = dspy_field_name_issues(definition, root_path)
    return ValidationResult(False, issues=extra) if extra else result
