"""dicom_listener_state: absent with the systemd backend removes the socket and service units and
keeps every received file; runs late and converges the gateway back."""

import os

import pytest

from harness import run_playbook

# Removes the listener (or switches its backend): after the other modules (conftest.py).
RUN_LAST = 1

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

UNITS = ["/etc/systemd/system/dicomlistener%s" % suffix for suffix in (".socket", "@.service", "-resume.service")]


def test_absent_removes_the_units_and_keeps_the_data(host, gw):
    count = "find %s %s -type f | wc -l" % (gw["data_dir"], gw["tmp_dir"])
    received = int(host.run(count).stdout)
    assert received > 0
    try:
        out, _recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_state=absent")
        assert "RUNNING HANDLER [pacsgate.listener.dicom_listener : Reload systemd's units]" in out
        for unit in UNITS:
            assert not host.file(unit).exists
        assert host.run("systemctl show dicomlistener.socket -p LoadState").stdout.strip() == "LoadState=not-found"
        assert not host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
        assert not host.package("xinetd").is_installed
        assert int(host.run(count).stdout) == received
        _out, recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_state=absent")
        assert "changed=0" in recap, recap
    finally:
        run_playbook("pacsgate.listener.site")
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
    assert int(host.run(count).stdout) >= received
