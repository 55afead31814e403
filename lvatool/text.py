"""Text from a peer, made safe to print on the user's terminal.

Every command quotes what the other side said: a gRPC status message, an inference's
tag, a handle name. Rich reads ``[...]`` as markup, so a tag of ``[/]`` would crash the
report with a ``MarkupError``, and a tag of ``[bold red]`` would restyle it; a raw ANSI
escape (``\\x1b[2J`` clears the screen) would act on the terminal. :func:`as_text` is the
one place that turns such a string into plain, visible text.
"""

from __future__ import annotations

from rich.markup import escape


def visible(text: str) -> str:
    """``text`` with every control character written as its escape (``\\x1b``, ``\\n``).

    For plain-text output (logs, JSON keeps the raw string): nothing in it can move the
    cursor, clear the screen or start a new line that looks like lvatool's own.
    """
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def as_text(text: str) -> str:
    """``text`` ready for rich: control characters escaped, markup shown as itself."""
    return escape(visible(text))
