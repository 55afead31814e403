"""Loading a user's processor from ``module:attribute`` or ``path/to/file.py:attribute``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

from lvatool.server.processor import FunctionProcessor, Processor


class ProcessorLoadError(ValueError):
    """``--processor`` names nothing usable; the message says why."""


def _import(module_name: str) -> object:
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise ProcessorLoadError(f"no such file: {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ProcessorLoadError(f"cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(module_name)


def load_processor(reference: str) -> Processor:
    """The processor named by ``reference``.

    The attribute may be a :class:`Processor` subclass (instantiated with no
    arguments), a :class:`Processor` instance, or a function ``frame -> inferences``.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ProcessorLoadError(
            f"--processor {reference!r}: expected MODULE:ATTRIBUTE, e.g. my_model:process"
        )
    try:
        module = _import(module_name)
    except ProcessorLoadError:
        raise
    except Exception as error:
        raise ProcessorLoadError(
            f"cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from None
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise ProcessorLoadError(f"{module_name!r} has no attribute {attribute!r}") from None
    if inspect.isclass(target) and issubclass(target, Processor):
        return target()
    if isinstance(target, Processor):
        return target
    if callable(target):
        return FunctionProcessor(target)
    raise ProcessorLoadError(
        f"{reference!r} is a {type(target).__name__}, not a Processor or a function"
    )
