"""The pfdcm-style tags: an explicit restart restarts, everything else restarts only on change."""

import os

import pytest

from harness import FULL_HOST_ONLY, SENDER_AET, dcmtk, run_playbook

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY


def xinetd_pid(host):
    # Debian's xinetd is an init script wrapped by systemd, which tracks no MainPID for it.
    return host.run("pidof xinetd").stdout.strip()


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
def test_service_restart_tag_restarts_xinetd_and_verifies(host, gw):
    before = xinetd_pid(host)
    out, recap = run_playbook("pacsgate.listener.site", "--tags", "service_restart")
    assert "changed=1" in recap, recap
    assert "Restart xinetd on request" in out
    assert "answers C-ECHO" in out
    after = xinetd_pid(host)
    assert after not in ("", "0", before)
    res = dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(gw["port"]), timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
@pytest.mark.parametrize("tag", ["file_create", "file_install", "service_mkdirs"])
def test_unchanged_tags_change_nothing_and_do_not_restart(host, tag):
    before = xinetd_pid(host)
    out, recap = run_playbook("pacsgate.listener.site", "--tags", tag)
    assert "changed=0" in recap, recap
    assert "RUNNING HANDLER" not in out
    assert xinetd_pid(host) == before
