"""What starting the platform imports: scikit-learn and SciPy only where they are used.

Every ``engage`` command and every ``engage run`` imports the report's sections (through
the runtime and the commands). Importing scikit-learn (and SciPy's statistics with it)
took more CPU than anything else at start-up, so themes and opinion groups import them
where they find groups, and a process that never reports never loads them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy")


@pytest.mark.parametrize(
    "modules",
    [
        "bot.cli, bot.commands",
        "bot.runtime, bot.web.app, bot.platform",
        "consultations.reporting, consultations.insights.report, consultations.insights.themes",
        "consultations.insights.opinion, consultations.statement_groups",
    ],
)
def test_starting_up_imports_neither_scikit_learn_nor_scipy(modules: str) -> None:
    code = (
        f"import sys, {modules}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.strip() == "[]", done.stdout
