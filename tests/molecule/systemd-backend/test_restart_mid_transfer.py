"""Zero loss across a restart of the listener socket and a daemon-reload mid-transfer (systemd
backend).

A paced sender (pynetdicom, one association, an instance every 0.05 s) runs while either the role's
`--tags service_restart` restarts the listener socket and the filer through its handlers (and
verifies the listener), or systemd reloads its units (what the role's handler does after a unit
changed). The association runs in a unit of its own (`<service>@...`), which must keep running;
every instance the gateway acknowledged must be filed byte-identical to what was sent or
quarantined with a reason, none lost, and the filer's journal holds no patient data."""

import os

import pytest

from harness import (FILER_UNIT, account, assert_zero_loss, count_zero_loss, name_of, patient_data_in_journal,
                     pypx_spelling, run_playbook, transfer_across)

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

RESTART_SOCKET = "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart the listener socket]"
RESTART_FILER = "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart the filer]"


def show(host, unit, prop):
    return host.run("systemctl show -p %s --value %s", prop, unit).stdout.strip()


def running_associations(host, service):
    out = host.run("systemctl list-units %s --state=running --plain --no-legend", service + "@*").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("action", ["service_restart", "daemon-reload"])
def test_restart_mid_transfer_loses_nothing(host, gw, tmp_path, action):
    filer, socket = FILER_UNIT % gw["service_name"], gw["service_name"] + ".socket"
    filer_before = show(host, filer, "MainPID")
    socket_before = show(host, socket, "ActiveEnterTimestampMonotonic")
    seen = {}

    def act():
        seen["before"] = running_associations(host, gw["service_name"])
        if action == "service_restart":
            out = run_playbook("pacsgate.listener.site", "--tags", "service_restart", limit=name_of(host))
        else:
            res = host.run("systemctl daemon-reload")
            out = (res.stdout + res.stderr, "rc=%d" % res.rc)
        seen["after"] = running_associations(host, gw["service_name"])
        return out

    sender, manifest, sources, (out, recap) = transfer_across(gw, tmp_path, act)
    figures = account(host, gw, manifest["study_uid"], sender, sources)
    count_zero_loss("%s mid-transfer (systemd backend)" % action, figures,
                    not_acknowledged=len(sender.sent) - len(sender.acknowledged),
                    **{"acknowledged meanwhile": sender.acknowledged_during_action})
    if action == "service_restart":
        assert "changed=0" not in recap, recap
        assert RESTART_SOCKET in out and RESTART_FILER in out, out[-3000:]
        assert show(host, socket, "ActiveEnterTimestampMonotonic") != socket_before
        assert show(host, filer, "MainPID") not in ("", "0", filer_before)
    else:
        assert recap == "rc=0", out
    # The association's own unit ran through it.
    assert len(seen["before"]) == 1 and seen["before"] <= seen["after"], seen
    assert sender.survived_action and not sender.aborted and sender.error is None, (sender.error, len(sender.sent))
    assert sender.acknowledged_during_action > 0 or action == "daemon-reload"
    assert sender.refused == [] and len(sender.acknowledged) == len(sender.sent)
    assert_zero_loss(figures)
    needles = [manifest["patient_id"], "PACSGATE^TEST", pypx_spelling("PACSGATE^TEST")]
    assert patient_data_in_journal(host, filer, needles) == []
