"""The harness shared by the Molecule verifiers (tests/integration/harness.py): its fixtures and
its summary of measured figures."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402  pylint: disable=wrong-import-position

gw = harness.gw
sent_study = harness.sent_study
pytest_terminal_summary = harness.pytest_terminal_summary
