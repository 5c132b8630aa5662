"""The pfdcm-style tags: an explicit restart restarts, everything else restarts only on change;
`refile` files now what waits."""

import os
import re
import time

import pytest

from harness import FULL_HOST_ONLY, SENDER_AET, dcmtk, dicomstudy, filed_instances, run_playbook

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY


def xinetd_pid(host):
    # Debian's xinetd is an init script wrapped by systemd, which tracks no MainPID for it.
    return host.run("pidof xinetd").stdout.strip()


def filer_pid(host, gw):
    return host.run("systemctl show --property=MainPID --value pacsgate-filer-%s", gw["service_name"]).stdout.strip()


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
def test_service_restart_tag_restarts_xinetd_and_the_filer_and_verifies(host, gw):
    before, filer_before = xinetd_pid(host), filer_pid(host, gw)
    out, recap = run_playbook("pacsgate.listener.site", "--tags", "service_restart")
    assert "changed=0" not in recap, recap
    assert "Restart the listener and the filer on request" in out
    assert "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart xinetd]" in out
    assert "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart the filer]" in out
    assert "answers C-ECHO" in out
    after = xinetd_pid(host)
    assert after not in ("", "0", before)
    assert filer_pid(host, gw) not in ("", "0", filer_before)
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


# What releases before 0.2.0 installed in the libexec dir; nothing runs it any more.
RETIRED = ("housekeeping.py", "pacsgate_gateway.py", "pacsgate_xinetd.py", "xinetd_validate.py", "systemd_validate.py")


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
def test_an_upgrade_removes_the_programs_earlier_releases_installed(host):
    libexec = "/usr/local/libexec/pacsgate"
    with host.sudo():
        host.run_expect([0], "for f in %s; do echo old > %s/$f; done" % (" ".join(RETIRED), libexec))
    out, recap = run_playbook("pacsgate.listener.site", "--tags", "file_install")
    assert "changed=1 " in recap, recap
    assert "RUNNING HANDLER" not in out
    left = host.file(libexec).listdir()
    assert not set(RETIRED) & set(left) and "pacsgate-gate" in left, left


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
def test_refile_tag_files_what_waits(host, gw, tmp_path):
    """With the filer stopped, what arrives waits in the tmp dir; --tags refile files it now."""
    unit = "pacsgate-filer-%s" % gw["service_name"]
    manifest = dicomstudy.make_study(str(tmp_path), series=1, per_series=12)
    host.run("systemctl stop %s", unit)
    try:
        res = dcmtk("storescu", "-aet", SENDER_AET, "-aec", gw["aetitle"], "+sd", gw["ip"], str(gw["port"]),
                    str(tmp_path))
        assert res.returncode == 0, res.stderr
        time.sleep(2)
        assert not filed_instances(host, gw["data_dir"], manifest["study_uid"])
        out, recap = run_playbook("pacsgate.listener.site", "--tags", "refile")
        assert "changed=1" in recap, recap
        # This association at least (another one waiting with it is filed by the same pass).
        done = re.search(r"pass done: ([0-9]+) association\(s\) filed, ([0-9]+) kept for a retry", out)
        assert done and int(done.group(1)) >= 1 and done.group(2) == "0", out[-3000:]
        assert len(filed_instances(host, gw["data_dir"], manifest["study_uid"])) == 12
    finally:
        host.run("systemctl start %s", unit)
