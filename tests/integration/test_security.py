"""Least privilege, the source access list, limits and timeouts on the converged gateway."""

import os
import socket
import time

import pytest

from conftest import SENDER_AET, run_playbook, snapshot

needs_molecule = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")


def service_settings(host, gw):
    settings = {}
    for line in host.file("/etc/xinetd.d/%s" % gw["service_name"]).content_string.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def test_only_from_is_loopback_plus_the_declared_pacs(host, gw):
    pacs_hosts = [p["host"] for p in host.ansible.get_variables()["dicom_listener_pacs"]]
    assert service_settings(host, gw)["only_from"].split() == ["127.0.0.1"] + pacs_hosts


def test_undeclared_source_is_refused(host, gw):
    # From inside the gateway to its own Docker address: the source is that address, not in only_from.
    res = host.run("echoscu -aet INTRUDER -aec %s -to 10 %s %s", gw["aetitle"], gw["ip"], str(gw["port"]))
    assert res.rc != 0
    assert "Peer aborted Association" in res.stdout + res.stderr or "refused" in (res.stdout + res.stderr).lower()
    # and xinetd logs the refused host
    log = host.run("journalctl -u xinetd --no-pager -n 200").stdout
    assert "FAIL: %s" % gw["service_name"] in log and "from=%s" % gw["ip"] in log


def test_limits(host, gw):
    variables = host.ansible.get_variables()
    settings = service_settings(host, gw)
    assert settings["instances"] == str(variables.get("dicom_listener_instances", 64))
    assert settings["per_source"] == str(variables.get("dicom_listener_per_source", 64))
    assert settings["cps"].split() == [str(n) for n in variables.get("dicom_listener_cps", [200, 5])]


def test_silent_connection_is_closed_by_the_acse_timeout(host, gw):
    timeout = int(host.ansible.get_variables().get("dicom_listener_acse_timeout", 30))
    start = time.monotonic()
    with socket.create_connection((gw["ip"], gw["port"]), timeout=timeout + 30) as sock:
        # Say nothing, as a half-open or stuck peer: storescp must give up and the gateway close the
        # connection. (px-listen then writes a Python traceback into the socket: it expects at least
        # one received image. That is pypx's own behaviour.)
        while sock.recv(65536):
            pass
    waited = time.monotonic() - start
    assert waited < timeout + 15, "connection held for %.1f s (ACSE timeout %d s)" % (waited, timeout)


@needs_molecule
def test_root_is_refused_before_anything_changes(host):
    paths = ("/etc/xinetd.d", "/home/dicom", "/opt/pypx", "/usr/local/libexec/pacsgate")
    before = snapshot(host, *paths)
    out, _recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_user=root", expect_failure=True)
    assert "dicom_listener_user is root" in out
    assert snapshot(host, *paths) == before


@needs_molecule
def test_leftovers_of_a_root_run_are_given_back(host, gw):
    host.run("touch %s/root-left-this.txt && mkdir -p %s/root-dir && touch %s/root-dir/x",
             gw["log_dir"], gw["data_dir"], gw["data_dir"])
    try:
        assert host.file(gw["log_dir"] + "/root-left-this.txt").user == "root"
        _out, recap = run_playbook("pacsgate.listener.site", "--tags", "service_mkdirs")
        assert "changed=1" in recap, recap
        for path in (gw["log_dir"] + "/root-left-this.txt", gw["data_dir"] + "/root-dir", gw["data_dir"] + "/root-dir/x"):
            f = host.file(path)
            assert (f.user, f.group) == (gw["user"], gw["group"]), path
    finally:
        host.run("rm -rf %s/root-left-this.txt %s/root-dir", gw["log_dir"], gw["data_dir"])


@needs_molecule
@pytest.mark.parametrize("name,value,words", [
    ("dicom_listener_allowed_sources", '["10.0.0.300"]', "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["10.1.0.0/33"]', "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["pacs host"]', "xinetd deny every sender"),
    ("dicom_listener_cps", "[0, 5]", "dicom_listener_cps"),
    ("dicom_listener_per_source", "1000", "per_source at most instances"),
])
def test_bad_limits_and_sources_are_refused(host, name, value, words):
    paths = ("/etc/xinetd.d", "/usr/local/libexec/pacsgate")
    before = snapshot(host, *paths)
    out, _recap = run_playbook("pacsgate.listener.site", "-e", '{"%s": %s}' % (name, value), expect_failure=True)
    assert words in out
    assert snapshot(host, *paths) == before
