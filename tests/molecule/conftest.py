"""The one conftest of the Molecule verifiers (tests/molecule/<scenario>/): the harness' fixtures
(harness.py), its summary of measured figures, and the order of test modules.

A module that must run after the others of its scenario (it removes the listener, or switches its
backend) says so with a module attribute `RUN_LAST = <n>`; modules run in ascending n, those
without it first (n = 0), each keeping its own test order."""

import harness

gw = harness.gw
sent_study = harness.sent_study
pytest_terminal_summary = harness.pytest_terminal_summary


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: getattr(item.module, "RUN_LAST", 0))
