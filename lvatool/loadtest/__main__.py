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
    sys.argv = ["lvatool-locust", *locust_arguments(sys.argv[1:])]
    locust_main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
