"""Fixtures of the systemd-backend verifiers: the default scenario's (tests/integration/conftest.py),
loaded under the name integration_conftest so that both directories can have a conftest.py."""

import importlib.util
import os
import sys

INTEGRATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration")
_spec = importlib.util.spec_from_file_location("integration_conftest", os.path.join(INTEGRATION, "conftest.py"))
shared = importlib.util.module_from_spec(_spec)
sys.modules["integration_conftest"] = shared
_spec.loader.exec_module(shared)  # also puts tests/integration (dicomstudy) on sys.path

gw = shared.gw
sent_study = shared.sent_study
