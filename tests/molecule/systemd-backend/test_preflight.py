"""Preflight of the systemd backend: a host without systemd, a host name among the senders and a
broken unit are each refused with a message, before anything changes."""

import os
import subprocess

import pytest

from harness import run_playbook, snapshot

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

UNIT_DIR = "/etc/systemd/system"
NO_SYSTEMD = "pacsgate-systemd-backend-nosystemd"


def test_a_host_without_systemd_is_refused(tmp_path):
    # The gateway image with a plain process as PID 1 instead of systemd.
    subprocess.run(["docker", "rm", "-f", NO_SYSTEMD], capture_output=True, check=False)
    subprocess.run(["docker", "run", "-d", "--name", NO_SYSTEMD, os.environ["PACSGATE_IMAGE_BOOKWORM"], "sleep", "600"],
                   capture_output=True, check=True)
    try:
        inventory = tmp_path / "inventory.ini"
        inventory.write_text("[pacs_gateways]\n%s ansible_connection=community.docker.docker\n" % NO_SYSTEMD)
        res = subprocess.run(["ansible-playbook", "-i", str(inventory), "pacsgate.listener.site",
                              "-e", "dicom_listener_backend=systemd"],
                             capture_output=True, text=True, timeout=600, check=False)
        out = res.stdout + res.stderr
        assert res.returncode != 0, out[-3000:]
        assert "dicom_listener_backend: systemd needs systemd as the service manager" in out, out[-3000:]
        installed = subprocess.run(["docker", "exec", NO_SYSTEMD, "sh", "-c", "ls /opt /home; dpkg -l dcmtk"],
                                   capture_output=True, text=True, check=False)
        assert "pypx" not in installed.stdout and "dicom" not in installed.stdout
        assert "ii  dcmtk" not in installed.stdout
    finally:
        subprocess.run(["docker", "rm", "-f", NO_SYSTEMD], capture_output=True, check=False)


def test_a_host_name_among_the_senders_is_refused(host):
    before = snapshot(host, UNIT_DIR, "/home/dicom", "/usr/local/libexec/pacsgate")
    out, _recap = run_playbook("pacsgate.listener.site", "-e", '{"dicom_listener_allowed_sources": ["pacs.example.org"]}',
                               expect_failure=True)
    assert "IPAddressAllow=, which takes" in out and "pacs.example.org" in out
    assert snapshot(host, UNIT_DIR, "/home/dicom", "/usr/local/libexec/pacsgate") == before


def test_the_unit_validator_refuses_what_systemd_would_ignore(host):
    validate = "/opt/pypx/bin/python -I -m pacsgate_listener.systemd_units %s dicomlistener.socket " + UNIT_DIR
    live = UNIT_DIR + "/dicomlistener.socket"
    assert host.run(validate % live).rc == 0
    host.run("sed 's/^MaxConnections=.*/MaxConnections=many/' %s > /tmp/bad.socket" % live)
    res = host.run(validate % "/tmp/bad.socket")
    assert res.rc == 1 and "Failed to parse" in res.stderr and "many" in res.stderr, res.stderr
    host.run("sed 's/^Accept=yes/Acept=yes/' %s > /tmp/bad.socket" % live)
    res = host.run(validate % "/tmp/bad.socket")
    assert res.rc == 1 and "Acept" in res.stderr, res.stderr
    host.run("rm -f /tmp/bad.socket")
