"""Fixtures of the gate's tests (the harness is gatetest.py)."""

import pytest

from gatetest import Gate


@pytest.fixture
def make_gate(tmp_path):
    made = []

    def make(**overrides):
        gate = Gate(tmp_path / ('gate%d' % len(made)), **overrides)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.close()
