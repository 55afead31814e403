"""``lvatool-locust`` / ``python -m lvatool.loadtest``: Locust with the packaged locustfile.

Every argument goes to Locust unchanged (``--host``, ``-u``, ``--headless``, ``--master``,
``--worker``, the ``--lva-*`` options …); ``-f`` is added unless you give your own.
"""

from __future__ import annotations

import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
EXIT_USAGE = 2


def locust_arguments(arguments: list[str]) -> list[str]:
    """Locust's argv: ours with the packaged locustfile, unless one is named."""
    named = any(
        arg in ("-f", "--locustfile") or arg.startswith(("--locustfile=", "-f="))
        for arg in arguments
    )
    return arguments if named else ["-f", str(LOCUSTFILE), *arguments]


def main() -> None:
    try:
        from locust.main import main as locust_main
    except ModuleNotFoundError:
        print('lvatool-locust needs Locust: pip install "lvatool[locust]"', file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    arguments = sys.argv[1:]
    sys.argv = ["lvatool-locust", *locust_arguments(arguments)]
    try:
        locust_main()  # type: ignore[no-untyped-call]
    finally:
        if "-h" in arguments or "--help" in arguments:
            # Locust prints its help before it loads a locustfile: add our options.
            print(camera_options_help())


def camera_options_help() -> str:
    """The ``--lva-*`` options, as the end of ``--help``."""
    import textwrap

    from lvatool.loadtest.options import OPTIONS

    lines = [
        "",
        "lvatool cameras (one user = one camera session with the extension at -H/--host):",
    ]
    for option, _, kind, text in OPTIONS:
        lines.append(f"  {option} {kind.__name__.upper()}")
        lines.extend(textwrap.wrap(text, 72, initial_indent=" " * 24, subsequent_indent=" " * 24))
    lines += [
        "",
        "Examples:",
        "    lvatool-locust --headless -H localhost:5001 -u 32 -r 8 -t 1m --lva-fps 15 --csv run",
        "    lvatool-locust --master -H gpu-box:5001 --lva-format raw  # then, per load machine:",
        "    lvatool-locust --worker --master-host MASTER",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
