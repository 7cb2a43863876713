"""A stand-in for a module whose names DSPy reads at each call: that module, but for the names given."""

from __future__ import annotations

from typing import Any


class ModuleWith:
    """`ModuleWith(inspect, getcallargs=fast)`: `.getcallargs` is `fast`, every other name is `inspect`'s."""

    def __init__(self, module: Any, **overrides: Any) -> None:
        self.__dict__.update(overrides)
        self._module = module

    def __getattr__(self, name: str) -> Any:
        # Only for names not given above.
        return getattr(self._module, name)
