"""Switching backend on a gateway removes the other backend's service definition and keeps every
received file: systemd to xinetd and back. Runs last (it installs xinetd)."""

import os

import pytest

from harness import SENDER_AET, dcmtk, run_playbook

# Removes the listener (or switches its backend): after the other modules (conftest.py).
RUN_LAST = 2

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

SOCKET = "/etc/systemd/system/dicomlistener.socket"
SERVICE = "/etc/systemd/system/dicomlistener@.service"


def echo(gw):
    return dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(gw["port"]), timeout=60)


def test_switch_to_xinetd_and_back(host, gw):
    xinetd_file = "/etc/xinetd.d/%s" % gw["service_name"]
    count = "find %s %s -type f | wc -l" % (gw["data_dir"], gw["tmp_dir"])
    received = int(host.run(count).stdout)
    try:
        run_playbook("pacsgate.listener.site", "-e", "dicom_listener_backend=xinetd")
        assert not host.file(SOCKET).exists and not host.file(SERVICE).exists
        assert host.run("systemctl show dicomlistener.socket -p LoadState").stdout.strip() == "LoadState=not-found"
        assert host.file(xinetd_file).exists
        assert host.service("xinetd").is_running
        assert "xinetd" in host.run("ss -Hltnp 'sport = :%d'" % gw["port"]).stdout
        assert echo(gw).returncode == 0
        xinetd_pid = host.run("pidof xinetd").stdout.strip()
    finally:
        run_playbook("pacsgate.listener.site")
    # xinetd was restarted to let go of the port, which systemd now holds.
    assert host.run("pidof xinetd").stdout.strip() not in ("", xinetd_pid)
    assert not host.file(xinetd_file).exists
    assert host.file(SOCKET).exists
    assert "pid=1," in host.run("ss -Hltnp 'sport = :%d'" % gw["port"]).stdout
    res = echo(gw)
    assert res.returncode == 0, res.stderr
    assert int(host.run(count).stdout) >= received
