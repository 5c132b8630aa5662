"""pytest's view of the harness shared by the Molecule verifiers (harness.py in this directory):
its fixtures and its summary of measured figures."""

import harness

gw = harness.gw
sent_study = harness.sent_study
pytest_terminal_summary = harness.pytest_terminal_summary
