"""The filer killed with SIGKILL while it files a big association (1000 instances).

The study is sent in one association as fast as the sender goes; once the filer has taken the
association into its queue and staged a third of its instances (copies under temporary names in the
series dirs), a watcher on the gateway kills the filer's main process. systemd restarts it
(Restart=always) and the new filer files the association again from the queue. Every instance the
gateway acknowledged must be filed byte-identical, once (no duplicate), with no temporary file left
and one record of the association; the filer's journal holds no patient data."""

import os

import pytest
from pydicom.uid import generate_uid

from chaoskit import FilerKiller, duplicates, filer_restarts, gateway_state, study_records, write_instances
from harness import (FILER_UNIT, Sender, account, assert_zero_loss, count_zero_loss, patient_data_in_journal,
                     pypx_spelling, sources_of, wait_until)

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

INSTANCES = 1000
PATIENT_ID, PATIENT_NAME = "PGKILL90210", "CHAOS^KILLED"


def test_filer_killed_mid_filing_loses_nothing(host, gw, tmp_path):
    unit = FILER_UNIT % gw["service_name"]
    study_uid = generate_uid()
    paths = write_instances(str(tmp_path), INSTANCES, study_uid=study_uid, patient_id=PATIENT_ID, patient_name=PATIENT_NAME)
    sources = sources_of(paths)
    restarts = filer_restarts(host, unit)
    killer = FilerKiller(host, gw, study_uid, unit, minimum=INSTANCES // 3)
    killer.start()
    sender = Sender(gw, paths, gap=0)
    sender.start()
    sender.join(300)
    killer.join(180)
    figures = account(host, gw, study_uid, sender, sources)
    # The staged copies the killed filer left are gone once the new one has filed the association.
    wait_until(lambda: gateway_state(host, gw, study_uid)["temps"] == 0, 30)
    state = gateway_state(host, gw, study_uid)
    records = study_records(state)
    count_zero_loss("filer killed (SIGKILL) while filing %d instances" % INSTANCES, figures,
                    not_acknowledged=len(sender.sent) - len(sender.acknowledged),
                    **{"staged when killed": killer.result.get("temps") or 0,
                       "filer restarts": filer_restarts(host, unit) - restarts})
    assert sender.error is None and not sender.aborted and len(sender.acknowledged) == INSTANCES, sender.error
    # The kill hit the filing: the association was queued and partly staged, nothing renamed yet.
    assert killer.result.get("killed"), killer.result
    assert killer.result["temps"] >= INSTANCES // 3 and killer.result["queued"] >= 1, killer.result
    assert filer_restarts(host, unit) > restarts
    assert_zero_loss(figures)
    assert figures["quarantined with a reason"] == 0
    assert state["temps"] == 0
    assert duplicates(state) == [] and all(len(copies) == 1 for copies in state["filed"].values())
    # One record, of the whole association.
    assert [(r["instances"], r["filed"], r["quarantined"]) for r in records.values()] == [(INSTANCES, INSTANCES, 0)], records
    needles = [PATIENT_ID, PATIENT_NAME, pypx_spelling(PATIENT_NAME)]
    assert patient_data_in_journal(host, unit, needles) == []
