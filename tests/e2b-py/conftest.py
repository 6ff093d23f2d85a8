# Flat report for tests/integration/71-e2b-py.t: one line per test in the file named by
# WRENN_E2B_FLAT: `ok - e2b-py VERSION: Class: test`, `ok - ... # skip REASON`, or
# `not ok - ...` followed by `# ` lines with the error (the format of tests/e2b/lib/tap-flat.mjs).
import os
from importlib.metadata import version

_out = None
_name = f"e2b-py {version('e2b')}"


def pytest_configure(config):
    global _out
    path = os.environ.get("WRENN_E2B_FLAT")
    if path:
        _out = open(path, "a", buffering=1)


def _line(report, ok, extra=""):
    file, *parts = report.nodeid.split("::")
    label = _name if file.endswith("test_sdk.py") else f"{file.rsplit('/', 1)[-1][:-3]} ({_name})"
    name = ": ".join([label, *parts]).replace("#", "\\#")
    _out.write(f"{'ok' if ok else 'not ok'} - {name}{extra}\n")


def pytest_runtest_logreport(report):
    if _out is None:
        return
    if report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _line(report, True, f" # skip {reason}")
    elif report.failed and report.when in ("setup", "call"):
        _line(report, False)
        text = str(report.longreprtext or "").strip().splitlines()[-12:]
        for line in text:
            _out.write(f"# {line}\n")
    elif report.passed and report.when == "call":
        _line(report, True)
    elif report.failed and report.when == "teardown":
        _out.write(f"# teardown of {report.nodeid} failed\n")
