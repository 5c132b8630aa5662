"""A corrected resend (the same SOP Instance UIDs, the patient name changed) whose filing the filer
dies in (SIGKILL), then housekeeping.

pypx files a patient by its ID and name as it spells them in directory names (letters and digits
kept, anything else a dot), so a corrected name has two outcomes, both in this resend: series 1's
name changes only in what pypx spells as a dot ("CHAOS^ORIGINAL" to "CHAOS ORIGINAL"), and its
corrected instances replace the first ones in place; series 2's changes letters ("CHAOS^CORRECTED")
and goes to a new patient dir beside the first. The filer is killed once it has staged a third of
the resend; systemd restarts it and the new filer files it from the queue.

Then: the corrected version is filed byte-identical; the first one is never lost (series 2 still
filed as first sent; series 1's first copies, replaced in the data dir, still kept as received);
housekeeping (min age 0) removes the received copies of the resend, whose record still verifies,
and keeps those of the first send, whose record no longer does (series 1 was replaced)."""

import os

import pytest
from pydicom.uid import generate_uid

from chaoskit import FilerKiller, account_copies, duplicates, filer_restarts, gateway_state, resend_of, study_records, write_instances
from harness import (FILER_UNIT, Sender, account, assert_zero_loss, count_zero_loss, patient_data_in_journal,
                     pypx_spelling, sources_of)

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

PER_SERIES = 150
PATIENT_ID = "PGFIX31337"
FIRST, IN_PLACE, ELSEWHERE = "CHAOS^ORIGINAL", "CHAOS ORIGINAL", "CHAOS^CORRECTED"
HOUSEKEEPING = "pacsgate-housekeeping-%s.service"


def send(gw, paths):
    sender = Sender(gw, paths, gap=0)
    sender.start()
    sender.join(300)
    assert sender.error is None and not sender.aborted, sender.error
    return sender


def test_corrected_resend_interrupted_then_housekeeping(host, gw, tmp_path):
    unit = FILER_UNIT % gw["service_name"]
    study_uid = generate_uid()
    first = [write_instances(str(tmp_path / "first"), PER_SERIES, prefix="s%d-" % number, study_uid=study_uid,
                             patient_id=PATIENT_ID, patient_name=FIRST, series_number=number) for number in (1, 2)]
    first_sources = [sources_of(paths) for paths in first]
    sender = send(gw, first[0] + first[1])
    figures = account(host, gw, study_uid, sender, dict(first_sources[0], **first_sources[1]))
    assert_zero_loss(figures)
    (first_id,) = study_records(gateway_state(host, gw, study_uid))

    resend = (resend_of(first[0], str(tmp_path / "resend1"), PatientName=IN_PLACE)
              + resend_of(first[1], str(tmp_path / "resend2"), PatientName=ELSEWHERE))
    resend_sources = sources_of(resend)
    restarts = filer_restarts(host, unit)
    killer = FilerKiller(host, gw, study_uid, unit, minimum=2 * PER_SERIES // 3)
    killer.start()
    resender = send(gw, resend)
    killer.join(180)
    figures = account_copies(host, gw, study_uid, resender, resend_sources)
    state = gateway_state(host, gw, study_uid)
    records = study_records(state)
    resend_id = [ident for ident in records if ident != first_id][-1] if len(records) > 1 else None
    resend_record = records.get(resend_id) or {}
    first_dir, new_dir = PATIENT_ID + "-" + pypx_spelling(FIRST), PATIENT_ID + "-" + pypx_spelling(ELSEWHERE)

    def filed_as(uid, patient_dir):
        return [digest for path, digest in state["filed"].get(uid, []) if path.split("/", 1)[0] == patient_dir]

    corrected = {uid: digest for uid, digest in resend_sources.items()
                 if filed_as(uid, first_dir if uid in first_sources[0] else new_dir) == [digest]}
    first_kept = {uid for uid, digest in first_sources[1].items() if filed_as(uid, first_dir) == [digest]}
    first_received = {uid for uid, digest in first_sources[0].items()
                      if state["received"].get(first_id, {}).get(uid) == digest}

    res = host.run("systemctl start %s", HOUSEKEEPING % gw["service_name"])
    after = gateway_state(host, gw, study_uid)
    still_received = {uid for uid, digest in first_sources[0].items()
                      if after["received"].get(first_id, {}).get(uid) == digest}
    count_zero_loss("corrected resend, filer killed (SIGKILL) while filing it", figures,
                    not_acknowledged=len(resender.sent) - len(resender.acknowledged),
                    **{"corrected filed byte-identical": len(corrected),
                       "replaced in place": resend_record.get("replaced") or 0,
                       "first send kept filed": len(first_kept),
                       "first send kept as received": len(still_received),
                       "staged when killed": killer.result.get("temps") or 0})
    assert killer.result.get("killed") and killer.result["queued"] >= 1, killer.result
    assert filer_restarts(host, unit) > restarts
    assert len(resender.acknowledged) == 2 * PER_SERIES
    assert_zero_loss(figures)
    # The corrected version is filed: series 1 in place of the first, series 2 in a new patient dir.
    assert len(corrected) == 2 * PER_SERIES
    assert resend_record.get("replaced") == PER_SERIES and resend_record.get("filed") == 2 * PER_SERIES, records
    assert state["temps"] == 0 and duplicates(state) == []
    # The first one is never lost: filed where it was, or (replaced) kept as received.
    assert len(first_kept) == PER_SERIES and len(first_received) == PER_SERIES
    # Housekeeping removed the resend's received copies (its record verifies) and kept the first
    # send's (its record no longer verifies: series 1 was replaced since).
    assert res.rc == 0, res.stderr
    assert resend_id not in after["records"] and first_id in after["records"]
    assert len(still_received) == PER_SERIES
    log = host.run("journalctl -u %s --no-pager -o cat", HOUSEKEEPING % gw["service_name"]).stdout
    assert "changed since filing" in log
    needles = [PATIENT_ID, FIRST, IN_PLACE, ELSEWHERE] + [pypx_spelling(n) for n in (FIRST, ELSEWHERE)]
    assert patient_data_in_journal(host, unit, needles) == []
    assert patient_data_in_journal(host, HOUSEKEEPING % gw["service_name"], needles) == []
