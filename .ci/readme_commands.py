"""Print a command of the README's "Two commands" section, for .ci/run.

``install-tests``: the test command without its final ``pytest`` (the install steps);
``demo`` / ``tests``: the whole first / second command.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def first_screen() -> list[str]:
    text = README.read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def main(which: str) -> str:
    demo, tests = first_screen()
    if which == "demo":
        return demo
    if which == "tests":
        return tests
    if which == "install-tests":
        head, sep, last = tests.rpartition("&&")
        if not sep or last.strip() != "pytest":
            raise SystemExit("README test command does not end in '&& pytest'")
        return head.strip()
    raise SystemExit(f"unknown command {which!r}; use demo, tests or install-tests")


if __name__ == "__main__":
    print(main(sys.argv[1]))
