"""The gateway container restarted (`docker restart`) in the middle of a transfer.

A sender sends a study of 2 MB instances in one association, back to back (so that one is nearly
always on its way); once 10 are acknowledged the container is restarted without a grace period
(`docker restart --time 0`: every process of the container killed at once, as at a power cut,
storescp in the middle of an instance, the filer before it could file the association). After the boot the filer
finds the association dir in incoming with its lock free and files it. Everything the sender saw
acknowledged must be filed byte-identical; the instance being received when the container died was
never acknowledged: it is absent, or quarantined as truncated, and reported apart, never counted as
lost.

The data dir of this scenario is a tmpfs (for test_disk_full.py), which a restart empties and gives
back to root: the test puts the empty data dir back, owned by the listener, as soon as the
container runs again, standing in for the disk a gateway's data dir is on. Runs last: the restart
ends every other test's processes."""

import os
import subprocess

import pytest
from pydicom.uid import generate_uid

from chaoskit import gateway_state, write_instances
from harness import (FILER_UNIT, Sender, account, assert_zero_loss, count_zero_loss, name_of, patient_data_in_journal,
                     pypx_spelling, quarantined, sources_of, wait_until)

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

RUN_LAST = 1
INSTANCES = 60
PIXELS = (1024, 1024)                   # 2 MB of pixel data per instance
PATIENT_ID, PATIENT_NAME = "PGBOOT1999", "CHAOS^REBOOTED"


def test_container_restart_mid_transfer(host, gw, tmp_path):
    unit = FILER_UNIT % gw["service_name"]
    name = name_of(host)
    study_uid = generate_uid()
    paths = write_instances(str(tmp_path), INSTANCES, study_uid=study_uid, patient_id=PATIENT_ID,
                            patient_name=PATIENT_NAME, pixels=PIXELS)
    sources = sources_of(paths)
    sender = Sender(gw, paths, gap=0)
    sender.start()
    try:
        assert wait_until(lambda: len(sender.acknowledged) >= 10 or not sender.is_alive(), 120, step=0.02), sender.error
        assert sender.is_alive(), ("the transfer ended before the restart", sender.error)
        restart = subprocess.run(["docker", "restart", "--time", "0", name], capture_output=True, text=True, timeout=120,
                                 check=False)
        # The data dir's disk, which the tmpfs stands for, would still hold the (empty) data dir.
        fix = subprocess.run(["docker", "exec", name, "install", "-d", "-o", gw["user"], "-g", gw["group"], "-m", "0750",
                              gw["data_dir"]], capture_output=True, text=True, timeout=60, check=False)
    finally:
        sender.join(180)
    assert restart.returncode == 0 and fix.returncode == 0, restart.stderr + fix.stderr
    assert wait_until(lambda: host.run("systemctl is-active %s", unit).stdout.strip() == "active", 120)
    figures = account(host, gw, study_uid, sender, sources, timeout=120)
    state = gateway_state(host, gw, study_uid)
    unacknowledged = [uid for uid in sender.sent if uid not in set(sender.acknowledged)]
    held = quarantined(host, gw["tmp_dir"])
    fate = {}
    for uid in unacknowledged:
        reason = held.get("CT." + uid)
        copies = [d for _p, d in state["filed"].get(uid, [])]
        fate[uid] = ("quarantined as truncated" if reason and reason.startswith("truncated")
                     else "quarantined: %s" % reason if reason
                     else "filed complete" if copies == [sources[uid]]
                     else "filed different" if copies else "absent")
    count_zero_loss("container restarted (docker restart) mid-transfer", figures,
                    not_acknowledged=len(unacknowledged),
                    **{"not acknowledged, %s" % f: list(fate.values()).count(f) for f in sorted(set(fate.values()))})
    assert sender.aborted or sender.error, "the association outlived the restart"
    # One instance in flight when the container stopped; the sender may try one more before pynetdicom
    # notices that the association is gone (neither is acknowledged, so neither counts as lost).
    assert len(sender.acknowledged) >= 10 and len(unacknowledged) <= 2, (len(sender.acknowledged), unacknowledged)
    assert_zero_loss(figures)
    assert figures["quarantined with a reason"] == 0 and figures["filed byte-identical"] == len(sender.acknowledged)
    # What was never acknowledged is absent, or kept aside as truncated (or, complete, filed): never
    # a partial file in the data dir.
    assert set(fate.values()) <= {"absent", "quarantined as truncated", "filed complete"}, fate
    assert state["temps"] == 0 and state["places"]["incoming"] == [] and state["places"]["queue"] == [], state["places"]
    needles = [PATIENT_ID, PATIENT_NAME, pypx_spelling(PATIENT_NAME)]
    assert patient_data_in_journal(host, unit, needles) == []
