"""Reading a ``--results`` JSONL file back, as the baseline of a later run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lvatool.results.header import RunHeader, header_from_json
from lvatool.results.records import FrameResult, ResultsFormatError, from_json


@dataclass
class ResultsFile:
    """A results file: its header, its frames in file order, and how its run ended."""

    header: RunHeader
    frames: list[FrameResult] = field(default_factory=list)
    outcome: str | None = None  # from the last line; None: the file was cut short


def read_results(path: Path) -> ResultsFile:
    """The file at ``path``; ResultsFormatError says, in one phrase, why it is not one.

    The phrase reads after the path ("--baseline FILE: <phrase>").
    """
    if path.suffix.casefold() == ".csv":
        raise ResultsFormatError(
            "is a CSV file; a baseline is a --results .jsonl file, which keeps the "
            "inferences and the clip's identity"
        )
    try:
        with path.open(encoding="utf-8") as file:
            return _parse(file)
    except OSError as error:
        raise ResultsFormatError(f"cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ResultsFormatError("is not a text file") from None


def _parse(lines: Iterable[str]) -> ResultsFile:
    results: ResultsFile | None = None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            raise ResultsFormatError(f"line {number} is not JSON") from None
        if not isinstance(line, dict):
            raise ResultsFormatError(f"line {number} is not a JSON object")
        if results is None:
            try:
                results = ResultsFile(header_from_json(line))
            except ResultsFormatError as error:
                raise ResultsFormatError(f"is not a results file: {error}") from None
            continue
        try:
            if line.get("kind") == "frame":
                results.frames.append(from_json(line))
            elif line.get("kind") == "end":
                outcome = line.get("outcome")
                results.outcome = outcome if isinstance(outcome, str) else "unknown"
            else:
                raise ResultsFormatError(f"its kind {line.get('kind')!r} is not run, frame or end")
        except ResultsFormatError as error:
            raise ResultsFormatError(f"line {number} is not a results record: {error}") from None
    if results is None:
        raise ResultsFormatError("is empty")
    return results
