"""Zero loss across pfdcm's "service restart" mid-transfer, on every gateway of the scenario.

A paced sender (pynetdicom, one association, an instance every 0.05 s) runs while the role's
`--tags service_restart` restarts xinetd and the filer through its handlers and verifies the
listener. The association was accepted before the restart and must run on: xinetd is stopped alone
(Debian 11 and 12 wrap its init script, KillMode=process; Debian 13's native unit would kill the
gate and storescp with it but for the role's KillMode=process drop-in), and the filer finishes what
it holds before it exits. Every instance the gateway acknowledged must be filed byte-identical to
what was sent or quarantined with a reason; none may be lost, and the filer's journal holds no
patient data."""

import os

import pytest

from harness import (FILER_UNIT, account, assert_zero_loss, count_zero_loss, name_of, patient_data_in_journal,
                     pypx_spelling, run_playbook, transfer_across)

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

RESTART_XINETD = "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart xinetd]"
RESTART_FILER = "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart the filer]"


def main_pid(host, unit):
    return host.run("systemctl show -p MainPID --value %s", unit).stdout.strip()


def test_service_restart_mid_transfer_loses_nothing(host, gw, tmp_path):
    filer = FILER_UNIT % gw["service_name"]
    xinetd_before, filer_before = host.run("pgrep -o -x xinetd").stdout.strip(), main_pid(host, filer)

    def restart():
        return run_playbook("pacsgate.listener.site", "--tags", "service_restart", limit=name_of(host))

    sender, manifest, sources, (out, recap) = transfer_across(gw, tmp_path, restart)
    figures = account(host, gw, manifest["study_uid"], sender, sources)
    count_zero_loss("restart mid-transfer (--tags service_restart) on %s" % name_of(host), figures,
                    not_acknowledged=len(sender.sent) - len(sender.acknowledged),
                    **{"acknowledged while restarting": sender.acknowledged_during_action})
    assert "changed=0" not in recap, recap
    assert RESTART_XINETD in out and RESTART_FILER in out, out[-3000:]
    # Restarted for real: new processes.
    assert host.run("pgrep -o -x xinetd").stdout.strip() not in ("", xinetd_before)
    assert main_pid(host, filer) not in ("", "0", filer_before)
    # The association outlived the restart and went on being acknowledged.
    assert sender.survived_action and not sender.aborted and sender.error is None, (sender.error, len(sender.sent))
    assert sender.acknowledged_during_action > 0
    assert sender.refused == [] and len(sender.acknowledged) == len(sender.sent)
    assert_zero_loss(figures)
    needles = [manifest["patient_id"], "PACSGATE^TEST", pypx_spelling("PACSGATE^TEST")]
    assert patient_data_in_journal(host, filer, needles) == []
