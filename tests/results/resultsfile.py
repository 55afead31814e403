"""Reading what ``--results`` wrote, every JSONL line validated against its published schema."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from tests.schemas import assert_valid


def jsonl_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a results JSONL file, each checked against ``simulate-results``."""
    lines = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        assert_valid(line, "simulate-results")
    assert lines and lines[0]["kind"] == "run", "the header comes first"
    assert lines[-1]["kind"] == "end", "the end line comes last"
    assert all(line["kind"] == "frame" for line in lines[1:-1])
    return lines


def frames(path: Path) -> list[dict[str, Any]]:
    return jsonl_lines(path)[1:-1]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))
