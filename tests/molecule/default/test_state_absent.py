"""dicom_listener_state: absent removes the listener and keeps every received file; runs last and
converges the gateway back."""

import os

import pytest

from harness import FULL_HOST_ONLY, run_playbook

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY

# Removes the listener (or switches its backend): after the other modules (conftest.py).
RUN_LAST = 1

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")


def test_absent_removes_the_listener_and_keeps_the_data(host, gw):
    service_file = "/etc/xinetd.d/%s" % gw["service_name"]
    count = "find %s %s -type f | wc -l" % (gw["data_dir"], gw["tmp_dir"])
    received = int(host.run(count).stdout)
    assert received > 0
    try:
        out, recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_state=absent")
        assert "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart xinetd]" in out
        assert not host.file(service_file).exists
        assert not host.file(gw["px_listen_link"]).exists
        for gone in ("/usr/local/libexec/pacsgate/pacsgate-gate", "/etc/pacsgate/%s.gate" % gw["service_name"],
                     "/etc/systemd/system/pacsgate-filer-%s.service" % gw["service_name"]):
            assert not host.file(gone).exists, gone
        assert not host.service("pacsgate-filer-%s" % gw["service_name"]).is_running
        assert host.service("xinetd").is_running
        assert not host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
        assert int(host.run(count).stdout) == received
        _out, recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_state=absent")
        assert "changed=0" in recap, recap
    finally:
        run_playbook("pacsgate.listener.site")
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
    assert int(host.run(count).stdout) >= received
