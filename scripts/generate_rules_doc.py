"""Regenerate ``docs/rules.md`` from ``lvatool/conformance/rules.py`` and the check catalogue.

The rules reference is generated so it always agrees with ``lvatool conformance
--explain`` and with the rules each check names. Run it after changing a rule's text or a
check's ID, title, level or rules; a test fails while the committed page is stale.

Usage::

    python scripts/generate_rules_doc.py          # rewrite docs/rules.md
    python scripts/generate_rules_doc.py --check  # exit 1 if docs/rules.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lvatool.conformance.rules_doc import rules_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    fresh = rules_markdown()
    if args.check:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != fresh:
            print(f"{DOC} is stale; run: python scripts/generate_rules_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
