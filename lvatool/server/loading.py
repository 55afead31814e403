"""Loading a user's processor from ``module:attribute`` or ``path/to/file.py:attribute``.

Users run ``lvatool serve`` from their project's folder through the installed console
script, whose ``sys.path`` holds neither that folder nor the processor file's: left alone,
the README's own ``--processor my_model:process`` ends in ``ModuleNotFoundError``. So the
two forms follow Python's rules for the two ways of running one's own code:

- ``module:attr`` is ``python -m module``: the current directory goes first on
  ``sys.path``, so ``my_model`` and ``pkg.sub`` beside the user are found.
- ``path/to/file.py:attr`` is ``python path/to/file.py``: the file's folder goes first on
  ``sys.path`` and stays there, so ``from sibling import x`` works at import time and in a
  lazy import inside ``process()``. The module gets a name derived from the resolved path
  (:func:`file_module_name`), so it never shadows an installed module of the same name,
  two ``model.py`` of two folders stay apart, and loading one file twice returns the
  module imported the first time, as ``import`` does.

Whatever goes wrong is one :class:`ProcessorLoadError` sentence naming the file and the
error (with the line for a syntax error), which ``lvatool serve`` turns into exit 2.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import threading
import traceback
from pathlib import Path
from types import ModuleType, TracebackType

from lvatool.logs import is_library_file, treat_as_application
from lvatool.server.processor import FunctionProcessor, Processor
from lvatool.text import visible


class ProcessorLoadError(ValueError):
    """``--processor`` names nothing usable; the message says why."""


_FILE_IMPORT = threading.Lock()  # one exec per file, even when two servers load it at once
_MESSAGE_LIMIT = 400  # an exception's text quoted in a sentence, not a page of it
_IMPORTLIB_DIR = os.path.dirname(importlib.__file__) + os.sep


def load_processor(reference: str) -> Processor:
    """The processor named by ``reference`` (``module:attr`` or ``path/to/file.py:attr``).

    The attribute may be a :class:`Processor` subclass (instantiated with no
    arguments), a :class:`Processor` instance, or a function ``frame -> inferences``.
    Raises :class:`ProcessorLoadError` with one sentence when it cannot be loaded.
    """
    source, attribute = _split(reference)
    if source.endswith(".py"):
        path = Path(source).expanduser().resolve()
        module = _import_file(path)
        subject = str(path)
    else:
        module = _import_module(source)
        subject = _describe_module(module)
    target = _attribute(module, attribute, subject)
    return _as_processor(target, attribute, subject)


def file_module_name(path: Path) -> str:
    """The module name a processor file is imported under: ``lvatool_file_<stem>_<digest>``.

    The digest of the resolved path keeps it from shadowing an installed module and
    apart from a file of the same name in another folder; it is stable, so a second load
    of the same file finds the first in ``sys.modules``.
    """
    resolved = path.resolve()
    digest = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:10]
    stem = re.sub(r"\W", "_", resolved.stem, flags=re.ASCII)
    return f"lvatool_file_{stem}_{digest}"


def _split(reference: str) -> tuple[str, str]:
    """``source`` and ``attribute``; the last colon splits, so paths may hold colons."""
    source, _, attribute = reference.rpartition(":")
    if not source or not attribute:
        raise ProcessorLoadError(
            f"expected MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE (e.g. my_model:process), "
            f"not {reference!r}"
        )
    if not attribute.isidentifier():
        raise ProcessorLoadError(
            f"{attribute!r} in {reference!r} is not a Python name (the part after the last "
            "colon names a function, class or instance)"
        )
    if not source.endswith(".py") and not all(part.isidentifier() for part in source.split(".")):
        raise ProcessorLoadError(
            f"{source!r} in {reference!r} is neither a module name (my_model, pkg.sub) "
            "nor a .py file"
        )
    return source, attribute


def _prepend_to_sys_path(folder: Path) -> None:
    """Put ``folder`` first on ``sys.path``, as Python does for a script's folder or ``-m``."""
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)
    importlib.invalidate_caches()  # a folder listed before may have new files by now


def _import_module(name: str) -> ModuleType:
    """``name`` from the current directory or the installed packages (``python -m``'s path)."""
    _prepend_to_sys_path(Path.cwd())
    treat_as_application(name.partition(".")[0])
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if _not_found_itself(error, name):
            raise ProcessorLoadError(
                f"no module named {error.name or name!r} in the current directory "
                f"({Path.cwd()}) or the installed packages (for a file, write "
                f"path/to/{name.rpartition('.')[2]}.py:ATTRIBUTE)"
            ) from None
        raise ProcessorLoadError(_import_failure(name, error)) from None
    except (Exception, SystemExit) as error:
        raise ProcessorLoadError(_import_failure(name, error)) from None


def _not_found_itself(error: ModuleNotFoundError, name: str) -> bool:
    """Whether the module asked for (or its package) is missing, not one it imports."""
    missing = error.name or ""
    asked = missing == name or name.startswith(missing + ".")
    return asked and _user_frame(error.__traceback__) is None


def _import_file(path: Path) -> ModuleType:
    """The module of a processor file, with its folder on ``sys.path`` (like a script)."""
    if not path.is_file():
        raise ProcessorLoadError(f"no such file: {path}")
    name = file_module_name(path)
    with _FILE_IMPORT:
        loaded = sys.modules.get(name)
        if loaded is not None:
            return loaded
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ProcessorLoadError(f"cannot load {path} as a Python module")
        _prepend_to_sys_path(path.parent)
        treat_as_application(name)
        module = importlib.util.module_from_spec(spec)
        # Registered before it runs, as import does: dataclasses, pickle and typing look
        # a class's module up in sys.modules while the file is still executing.
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as error:
            del sys.modules[name]
            raise ProcessorLoadError(_import_failure(str(path), error)) from None
        return module


def _describe_module(module: ModuleType) -> str:
    """``my_model (/home/me/my_model.py)``: the name the user wrote and the file it found."""
    file = getattr(module, "__file__", None)
    return f"{module.__name__} ({file})" if file else module.__name__


def _attribute(module: ModuleType, attribute: str, subject: str) -> object:
    try:
        return getattr(module, attribute)
    except AttributeError:
        names = [name for name in vars(module) if not name.startswith("_")]
        close = difflib.get_close_matches(attribute, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ProcessorLoadError(f"{subject} has no attribute {attribute!r}{hint}") from None
    except Exception as error:  # a module-level __getattr__ that raises
        raise ProcessorLoadError(
            _failure(f"cannot get {attribute!r} from", subject, error)
        ) from None


def _as_processor(target: object, attribute: str, subject: str) -> Processor:
    """A Processor from what the reference names, or a sentence saying why not."""
    if inspect.isclass(target):
        if not issubclass(target, Processor):
            raise ProcessorLoadError(
                f"{attribute} in {subject} is a class but not a subclass of "
                "lvatool.server.Processor (subclass it, or name a function)"
            )
        try:
            return target()
        except Exception as error:
            raise ProcessorLoadError(
                _failure(f"cannot create {attribute} from", subject, error)
            ) from None
    if isinstance(target, Processor):
        return target
    if not callable(target):
        raise ProcessorLoadError(
            f"{attribute} in {subject} is {_a(type(target).__name__)}, not a Processor "
            "subclass or instance or a function"
        )
    _check_takes_one_frame(target, attribute, subject)
    return FunctionProcessor(target)


def _check_takes_one_frame(function: object, attribute: str, subject: str) -> None:
    """A processor function is called with one frame: say so now, not at the first frame."""
    try:
        signature = inspect.signature(function)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a builtin without a signature: let it be tried
        return
    try:
        signature.bind(None)
    except TypeError:
        raise ProcessorLoadError(
            f"{attribute} in {subject} takes {signature}, but a processor function is called "
            "with one argument, the frame"
        ) from None


def _a(noun: str) -> str:
    """``an int``, ``a str``: the article a type's name takes."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _import_failure(subject: str, error: BaseException) -> str:
    return _failure("cannot import", subject, error)


def _failure(doing: str, subject: str, error: BaseException) -> str:
    """``cannot import X: SyntaxError: invalid syntax at /path/x.py:3``: one sentence."""
    if isinstance(error, SyntaxError):
        text = error.msg
        where = f"{error.filename}:{error.lineno}" if error.filename else None
    else:
        text = str(error)
        frame = _user_frame(error.__traceback__)
        where = f"{frame.filename}:{frame.lineno}" if frame is not None else None
    text = visible(" ".join(text.split()))  # one line, and no escape sequence reaches the terminal
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 1] + "…"
    described = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return f"{doing} {subject}: {described}" + (f" at {where}" if where else "")


def _user_frame(tb: TracebackType | None) -> traceback.FrameSummary | None:
    """Where the user's code failed: the innermost frame that is not import machinery.

    Frames of this module and of importlib are left out; among the rest, the innermost
    outside the standard library and installed packages wins (the user's line that called
    into a library), else the innermost of them (a library that failed on its own import).
    """
    frames = [
        frame
        for frame in traceback.extract_tb(tb)
        if frame.filename != __file__
        and not frame.filename.startswith("<frozen ")
        and not frame.filename.startswith(_IMPORTLIB_DIR)
    ]
    if not frames:
        return None
    own = [frame for frame in frames if not is_library_file(frame.filename)]
    return (own or frames)[-1]
