"""How ``gpu_check.py`` judges its pytest part: honest about what did not run.

Kept apart from the script (which parses its arguments and installs its
import shim when imported) so that the rules are unit-tested
(``tests/test_gpu_check_dry_run.py``).  A part is ``ok`` only when the tests
it was meant to run were collected and ran:

* a test file that could not be collected fails the part, unless the module
  it misses is optional on the GPU machine (:data:`OPTIONAL_MODULES`);
* a run that selected nothing, or (on a GPU) passed nothing, fails the part;
* the reason is in the summary: the counts, the files and the missing modules.
"""

from __future__ import annotations

import re

__all__ = ["OPTIONAL_MODULES", "pytest_counts", "pytest_status", "uncollected_files"]

#: modules a GPU machine may lack without making its test run meaningless
OPTIONAL_MODULES = frozenset({"pysam", "isal"})

_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)\b")


def pytest_counts(text: str) -> dict[str, int]:
    """``{"passed": n, "failed": n, ...}`` from the last summary line of a pytest log."""
    lines = [ln for ln in text.splitlines() if _COUNT.search(ln) and " in " in ln]
    counts = {k: 0 for k in ("passed", "failed", "skipped", "deselected", "error", "xfailed",
                             "xpassed")}  # fmt: skip
    if lines:
        for n, what in _COUNT.findall(lines[-1]):
            counts["error" if what.startswith("error") else what] += int(n)
    return counts


def uncollected_files(text: str) -> tuple[list[str], list[str]]:
    """``(files that failed to collect, top-level modules they missed)``."""
    files = sorted(set(re.findall(r"ERROR collecting (\S+)", text)))
    missing = re.findall(r"No module named '([^']+)'|import of (\w+) halted", text)
    modules = sorted({(a or b).split(".")[0] for a, b in missing})
    return files, modules


def pytest_status(rc: int | None, text: str, *, dry: bool, timeout: float = 0.0) -> tuple[str, str]:
    """``(status, summary)`` of a ``pytest -m gpu`` run from its exit code and log."""
    counts = pytest_counts(text)
    files, modules = uncollected_files(text)
    ran = counts["passed"] + counts["failed"] + counts["xfailed"] + counts["xpassed"]
    selected = ran + counts["skipped"]
    summary = (
        f"{selected} selected: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped, {counts['deselected']} deselected, "
        f"{counts['error']} errors"
    )
    if files:
        summary += f"; {len(files)} file(s) not collected ({', '.join(files)}; missing: " + (
            f"{', '.join(modules) or '?'})"
        )
    optional_only = bool(modules) and set(modules) <= OPTIONAL_MODULES
    if rc is None:
        return "TIMEOUT", f"killed after {timeout:.0f} s; {summary}"
    if files and not optional_only:
        return "FAILED (collection)", summary
    if counts["failed"] or counts["error"] > len(files):
        return f"FAILED (exit {rc})", summary
    if selected == 0:
        return "FAILED (nothing selected)", summary
    if not dry and counts["passed"] == 0:
        return "FAILED (no GPU test passed)", summary
    if rc not in (0, 1) or (rc == 1 and not files):
        return f"FAILED (exit {rc})", summary
    return "ok", summary
