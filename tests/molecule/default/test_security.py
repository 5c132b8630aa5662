"""Least privilege, the source access list, limits and timeouts on the converged gateway."""

import os
import socket
import time

import pytest

from harness import FULL_HOST_ONLY, count, journal_with, run_playbook, snapshot

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY

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
    refused = "FAIL: %s address from=%s" % (gw["service_name"], gw["ip"])
    assert refused in journal_with(host, "xinetd", refused)


def test_limits(host, gw):
    variables = host.ansible.get_variables()
    settings = service_settings(host, gw)
    assert settings["instances"] == str(variables.get("dicom_listener_instances", 128))
    assert settings["per_source"] == str(variables.get("dicom_listener_per_source", 128))
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


# Everything the role must refuse, with the words its message must contain. Values are JSON, given
# with -e, so that strings with newlines (attempts to inject xinetd attributes) arrive intact.
BAD_INPUTS = [
    ("dicom_listener_user", '"root"', "dicom_listener_user is root"),
    ("dicom_listener_user", '"Root!"', "dicom_listener_user"),
    ("dicom_listener_group", '"dicom group"', "dicom_listener_group"),
    ("dicom_listener_aetitle", '""', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"THIS_AE_TITLE_IS_TOO_LONG"', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"    "', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"CHRIS\\\\LOCAL"', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"CHRIS\\nport = 1"', "dicom_listener_aetitle"),
    ("dicom_listener_verify_calling_aetitle", '""', "dicom_listener_verify_calling_aetitle"),
    ("dicom_listener_port", "0", "dicom_listener_port"),
    ("dicom_listener_port", "70000", "dicom_listener_port"),
    ("dicom_listener_port", '"abc"', "dicom_listener_port"),
    ("dicom_listener_bind_address", '"0.0.0.0\\nonly_from = 0.0.0.0/0"', "dicom_listener_bind_address"),
    ("dicom_listener_bind_address", '"gateway.example.org"', "dicom_listener_bind_address"),
    ("dicom_listener_service_name", '"dicom.listener"', "dicom_listener_service_name"),
    ("dicom_listener_base_dir", '"relative/path"', "dicom_listener_base_dir"),
    ("dicom_listener_data_dir", '"/home/dicom/../etc"', "dicom_listener_data_dir"),
    ("dicom_listener_tmp_dir", '"/home/dicom/tmp\\nserver = /bin/sh"', "dicom_listener_tmp_dir"),
    ("dicom_listener_log_dir", '"/home/dicom/my log"', "dicom_listener_log_dir"),
    ("dicom_listener_px_listen_link", '"/usr/local/bin/px listen"', "dicom_listener_px_listen_link"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "X", "host": "10.0.0.1"}]', "port"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "AN_AE_TITLE_TOO_LONG", "host": "10.0.0.1", "port": 104}]',
     "dicom_listener_pacs"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "X", "host": "10.0.0.1", "port": 0}]', "dicom_listener_pacs"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "X", "host": "10.0.0.256", "port": 104}]',
     "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["10.0.0.300"]', "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["10.1.0.0/33"]', "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["pacs host"]', "xinetd deny every sender"),
    ("dicom_listener_cps", "[0, 5]", "dicom_listener_cps"),
    ("dicom_listener_per_source", "1000", "per_source at most instances"),
    ("dicom_listener_state", '"gone"', "dicom_listener_state"),
    ("dicom_listener_xinetd_opts", '["-stayalive", "-limit 5\\nINETD_COMPAT=Yes"]', "dicom_listener_xinetd_opts"),
    ("dicom_listener_xinetd_opts", '["-limit", "5"]', "must hold -stayalive"),
]
WATCHED = ("/etc/xinetd.d", "/home/dicom", "/opt/pypx", "/usr/local/libexec/pacsgate", "/usr/local/bin")


@needs_molecule
@pytest.mark.parametrize("name,value,words", BAD_INPUTS, ids=["%s=%s" % (n, v) for n, v, _w in BAD_INPUTS])
def test_bad_input_is_refused_before_anything_changes(host, name, value, words):
    before = snapshot(host, *WATCHED)
    count("bad inputs", tried=1)
    out, _recap = run_playbook("pacsgate.listener.site", "-e", '{"%s": %s}' % (name, value), expect_failure=True)
    unchanged = snapshot(host, *WATCHED) == before
    count("bad inputs", refused_with_their_message=int(words in out), changed_a_watched_tree=int(not unchanged))
    assert words in out, out[-2000:]
    assert unchanged


@needs_molecule
def test_port_of_another_xinetd_service_is_refused(host):
    host.run("printf 'service other\\n{\\n    port = 10555\\n}\\n' > /etc/xinetd.d/other")
    try:
        before = snapshot(host, *WATCHED)
        count("bad inputs", tried=1)
        out, _recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_port=10555", expect_failure=True)
        message = "already used by another xinetd service in /etc/xinetd.d/other"
        unchanged = snapshot(host, *WATCHED) == before
        count("bad inputs", refused_with_their_message=int(message in out), changed_a_watched_tree=int(not unchanged))
        assert message in out
        assert unchanged
    finally:
        host.run("rm -f /etc/xinetd.d/other")


def test_bad_input_table_is_large_enough():
    assert len(BAD_INPUTS) >= 20


VALIDATE = "python3 /usr/local/libexec/pacsgate/xinetd_validate.py %s dicomlistener"


def test_validator_accepts_the_live_service_file(host, gw):
    res = host.run(VALIDATE % ("/etc/xinetd.d/%s" % gw["service_name"]))
    assert res.rc == 0, res.stderr


@pytest.mark.parametrize("edit,reason", [
    ("sed '$d'", "closing"),                                              # the final brace lost
    ("sed 's/only_from .*/only_from = 127.0.0.1 10.0.0.300/'", "10.0.0.300"),  # xinetd would deny everyone
    ("sed 's/^    port .*/    port = 70000/'", "port"),
    ("sed 's/^    wait .*/    wiat = no/'", "wiat"),
    ("sed 's/^service dicomlistener/service other/'", "dicomlistener"),
])
def test_validator_rejects_what_xinetd_would_drop(host, gw, edit, reason):
    bad = "/tmp/pacsgate-bad-service"
    host.run("%s /etc/xinetd.d/%s > %s" % (edit, gw["service_name"], bad))
    try:
        res = host.run(VALIDATE % bad)
        assert res.rc == 1 and reason in res.stderr, res.stderr
    finally:
        host.run("rm -f %s" % bad)


@needs_molecule
def test_check_diff_shows_the_change_and_changes_nothing(host, gw):
    before = snapshot(host, *WATCHED)
    out, recap = run_playbook("pacsgate.listener.site", "--check", "--diff", "-e", "dicom_listener_port=10444")
    assert "-    port            = %d" % gw["port"] in out and "+    port            = 10444" in out
    assert "changed=0" not in recap
    assert snapshot(host, *WATCHED) == before
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
