"""Validate lvatool's JSON outputs against the schemas it publishes (:mod:`lvatool.schemas`).

Tests validate every document lvatool writes, so a change to an output that is not made to
its schema too (or the other way round) fails here, not in a user's pipeline.
"""

from __future__ import annotations

import functools

from jsonschema import Draft202012Validator

from lvatool.schemas import load_schema


@functools.cache
def validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(document: object, name: str) -> list[str]:
    """Every way ``document`` breaks schema ``name``, as ``path: message`` lines."""
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator(name).iter_errors(document)
    )


def assert_valid(document: object, name: str) -> None:
    errors = schema_errors(document, name)
    assert not errors, f"not a valid {name}:\n" + "\n".join(errors)
