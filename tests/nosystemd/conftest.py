"""Fixtures of the nosystemd scenario: the default scenario's, loaded from tests/integration.

pytest registers this file as the module `conftest`, so the shared one is loaded under a name of
its own and its fixtures and helpers are re-exported here."""

import importlib.util
import os

_PATH = os.path.join(os.path.dirname(__file__), "..", "integration", "conftest.py")
_SPEC = importlib.util.spec_from_file_location("pacsgate_integration_conftest", _PATH)
shared = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(shared)

gw = shared.gw
sent_study = shared.sent_study
