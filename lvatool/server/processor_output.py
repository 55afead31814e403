"""Judging what a user's processor hands back, before any of it reaches the wire.

A processor is the user's code, so its mistakes are ours to explain: returning ``None``,
a dict or a single ``Inference`` instead of a list would otherwise surface as gRPC's
``UNKNOWN "Exception iterating responses"`` with nothing in the server's log. Each
mistake becomes a :class:`ProcessorMistake` whose message names the processor, what it
returned and what was expected; the servicer ends the call with ``INTERNAL`` (a crash on
our side of the contract, H6) and logs it once.
"""

from __future__ import annotations

from collections.abc import Sequence

from lvatool.contract import inferencing_pb2

Inference = inferencing_pb2.Inference
_MAX_SHOWN = 80


class ProcessorMistake(Exception):
    """The processor broke its API; ``str(error)`` is the sentence for the status and log."""


def processor_name(processor: object) -> str:
    """How to name a processor to its author: ``module.function`` or ``module.Class``."""
    function = getattr(processor, "function", None)  # FunctionProcessor wraps a function
    target = function if callable(function) else type(processor)
    module = getattr(target, "__module__", None) or "?"
    name = getattr(target, "__qualname__", None) or type(target).__name__
    return f"{module}.{name}"


def describe_value(value: object) -> str:
    """A short, safe description of what a processor returned: its type and a prefix."""
    if value is None:
        return "None"
    if isinstance(value, Inference):
        return "a single Inference"
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    return f"{type(value).__name__} {text}"


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def check_batch_results(
    results: object, frame_count: int, processor: object
) -> list[list[Inference]]:
    """``results`` as one list of :class:`Inference` per frame, or :class:`ProcessorMistake`.

    The contract of ``process_batch`` is a sequence (one entry per frame, in order, Q3)
    of sequences of ``Inference`` messages; ``process`` returns one such inner sequence.
    """
    name = processor_name(processor)
    if not _is_sequence(results):
        raise ProcessorMistake(
            f"processor {name} returned {describe_value(results)} for a batch of "
            f"{frame_count} frames; expected a list with one list of Inference per frame"
        )
    assert isinstance(results, Sequence)
    if len(results) != frame_count:
        raise ProcessorMistake(
            f"processor {name} returned {len(results)} results for a batch of {frame_count} "
            "frames; expected one list of Inference per frame"
        )
    checked: list[list[Inference]] = []
    for index, inferences in enumerate(results):
        if not _is_sequence(inferences):
            raise ProcessorMistake(
                f"processor {name} returned {describe_value(inferences)} for frame {index + 1} "
                f"of {frame_count}; expected a list of Inference (empty when there is nothing)"
            )
        assert isinstance(inferences, Sequence)
        for item in inferences:
            if not isinstance(item, Inference):
                raise ProcessorMistake(
                    f"processor {name} returned a list holding {describe_value(item)} for "
                    f"frame {index + 1} of {frame_count}; expected only Inference messages"
                )
        checked.append(list(inferences))
    return checked
