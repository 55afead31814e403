"""What the test helpers accept as "a processor", turned into one :class:`Processor`.

Tests name a processor the way that reads best where they are: the object itself (a
:class:`Processor` instance or subclass, or a plain function ``frame -> inferences``) or
the ``--processor`` reference a deployment uses (``"processor.py:process"``,
``"my_model:process"``). References go through :func:`lvatool.server.load_processor`,
the server's own loader, so a test loads the processor exactly as ``lvatool serve`` does.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from lvatool.server.loading import load_processor
from lvatool.server.processor import Frame, FunctionProcessor, Inference, Processor

ProcessorLike: TypeAlias = (
    Processor | type[Processor] | Callable[[Frame], Sequence[Inference]] | str
)
"""A processor as the helpers take it: an instance, a subclass, a function or a reference."""


def resolve_processor(processor: ProcessorLike) -> Processor:
    """``processor`` as a :class:`Processor` instance, loaded as the server would load it.

    A reference that cannot be loaded raises :class:`lvatool.server.ProcessorLoadError`
    (a ``ValueError``) with the server's own sentence.
    """
    if isinstance(processor, Processor):
        return processor
    if isinstance(processor, str):
        return load_processor(processor)
    if inspect.isclass(processor):
        if issubclass(processor, Processor):
            return processor()
        raise TypeError(f"{processor.__qualname__} is a class but not a Processor subclass")
    if callable(processor):
        return FunctionProcessor(processor)
    raise TypeError(
        f"expected a Processor, a function frame -> inferences or a 'module:attr' reference, "
        f"not {type(processor).__name__}"
    )


def processor_reference(processor: ProcessorLike) -> str:
    """A ``--processor`` reference another Python process can load ``processor`` from.

    Strings are references already. A function or a class defined at the top level of a
    module is named ``module:attr`` (the module as this process imported it) or, for a
    script run as ``__main__``, ``path/to/file.py:attr``. An instance is named by the
    module-level variable that holds it. Anything else (a lambda, a class defined inside a
    function, an instance no module names) cannot be found by another process: TypeError
    says so, and what to pass instead.
    """
    if isinstance(processor, str):
        return processor
    target: object = processor
    if isinstance(processor, Processor):
        found = _module_variable(processor)
        if found is None:
            raise TypeError(
                f"this {type(processor).__qualname__} instance is not a module-level variable, "
                "so another process cannot load it: pass its class, or a 'file.py:attr' "
                "reference"
            )
        return _reference(*found)
    qualname = getattr(target, "__qualname__", "")
    if not qualname or "<" in qualname or "." in qualname:
        raise TypeError(
            f"{qualname or repr(target)} is not defined at the top level of a module, so "
            "another process cannot load it: define it at module level, or pass a "
            "'file.py:attr' reference"
        )
    return _reference(getattr(target, "__module__", None) or "", qualname)


def _module_variable(instance: object) -> tuple[str, str] | None:
    """``(module, name)`` of a module-level variable holding ``instance``, if any.

    The module of the instance's class is looked at first (a processor module often makes
    its own instance), then every loaded module, ``__main__`` included.
    """
    home = type(instance).__module__
    names = [home, *(name for name in list(sys.modules) if name != home)]
    for module_name in names:
        module = sys.modules.get(module_name)
        for attribute, value in list(getattr(module, "__dict__", {}).items()):
            if value is instance and not attribute.startswith("_"):
                return module_name, attribute
    return None


def _reference(module_name: str, attribute: str) -> str:
    """``module:attr``, or ``path/to/script.py:attr`` for the script run as ``__main__``."""
    if module_name != "__main__":
        return f"{module_name}:{attribute}"
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        raise TypeError(
            f"{attribute} is defined in an interactive session, so another process cannot "
            "load it: put it in a file and pass a 'file.py:attr' reference"
        )
    return f"{Path(file).resolve()}:{attribute}"
