"""Heavy libraries loaded when first used, not when the app starts.

numpy, plotly, Pillow and cryptography cost each web and worker process tens of MB and start-up time, and most
processes serve requests that never touch them (figures: docs/bench-next-task.md, idle memory). A module binds
`np = lazy_module("numpy")` at module level; the library is imported at the first attribute read, through the
import system (whose per-module lock makes that safe from several threads). Type checkers see the real module:

    if TYPE_CHECKING:
        import numpy as np
    else:
        np = lazy_module("numpy")

Pure (no Django import), so the pure modules (statistics, gate, parsers, charts) may use it too."""

import importlib
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    def __getattr__(self, name: str) -> Any:  # called only for a name not copied in yet
        module = importlib.import_module(self.__name__)
        # From now on every name is found directly, at no more cost than on the module itself.
        self.__dict__.update({k: v for k, v in vars(module).items() if k not in ("__name__", "__spec__")})
        return getattr(module, name)


def lazy_module(name: str) -> ModuleType:
    """The module `name`, imported at the first attribute read."""
    return _LazyModule(name)
