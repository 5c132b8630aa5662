"""xinetd's defaults file: a change of the two lines the role sets restarts xinetd with them. The
converge back runs verbose (-v), as an AWX log keeps it: it must name no patient."""

import os

import pytest

from harness import FULL_HOST_ONLY, run_playbook, xinetd_args

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY

HANDLER = "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart xinetd]"


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
def test_changed_defaults_restart_xinetd_with_them(host, sent_study):
    defaults = "/etc/default/xinetd"
    pid = host.file("/run/xinetd.pid").content_string.strip()
    try:
        out, recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_xinetd_inetd_compat=true")
        assert "changed=2 " in recap, recap  # the defaults file and the restart, nothing else
        assert HANDLER in out and "answers C-ECHO" in out
        assert "INETD_COMPAT=Yes" in host.file(defaults).content_string.splitlines()
        assert "-inetd_compat" in xinetd_args(host)
        assert host.file("/run/xinetd.pid").content_string.strip() != pid
    finally:
        out, recap = run_playbook("pacsgate.listener.site", "-v")
    assert "changed=2 " in recap and HANDLER in out, recap
    # Ansible's output travels to AWX and log stores: after a study, a verbose converge (its facts,
    # its summary) names no patient.
    for word in (sent_study["patient_id"], "PACSGATE^TEST", "PACSGATE.TEST", sent_study["study_uid"]):
        assert word not in out, word
    assert "INETD_COMPAT=No" in host.file(defaults).content_string.splitlines()
    assert "-inetd_compat" not in xinetd_args(host)
