"""JSON Schemas (draft 2020-12) of what lvatool writes for machines, shipped in the wheel.

Scripts and CI jobs that read ``lvatool simulate --json`` or ``lvatool conformance --json``
can validate a document before trusting it, with any JSON Schema library::

    import json

    import jsonschema
    from lvatool.schemas import load_schema

    with open("summary.json", encoding="utf-8") as file:
        jsonschema.validate(json.load(file), load_schema("simulate-summary"))

The schemas are plain data read through :mod:`importlib.resources`, so lvatool itself
needs no validator at run time; the tests validate every output against them.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

#: The published schemas, by name: ``<name>.schema.json`` in this package.
SCHEMA_NAMES: tuple[str, ...] = (
    "conformance-report",
    "simulate-capacity",
    "simulate-results",
    "simulate-summary",
)


def load_schema(name: str) -> dict[str, Any]:
    """The schema called ``name`` (one of :data:`SCHEMA_NAMES`), parsed from JSON.

    Raises ValueError for an unknown name, listing the known ones.
    """
    if name not in SCHEMA_NAMES:
        raise ValueError(f"no schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


__all__ = ["SCHEMA_NAMES", "load_schema"]
