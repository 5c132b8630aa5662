"""A patient name too long for the file system, in an association with instances that are fine.

pypx names a patient's directory `<PatientID>-<PatientName>` keeping letters and digits (CJK ones
too) and spelling anything else as a dot. A Japanese name in UTF-8 with its ideographic group of 64
characters and a phonetic group of 32 makes that name over 300 bytes, past the 255 a Linux file
system allows. Those instances must be quarantined with a reason naming ENAMETOOLONG, the others of
the same association filed, and the health reader (records.health, what the module and the metrics
read) must count them; no patient name or ID may reach the filer's journal or the reasons."""

import json
import os

import pytest
from pydicom.uid import generate_uid

from chaoskit import UTF8, gateway_state, study_records, write_instances
from harness import (FILER_UNIT, Sender, account, assert_zero_loss, count_zero_loss, patient_data_in_journal,
                     pypx_spelling, sources_of)

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

PATIENT_ID = "PGLONG4711"
FINE = "CHAOS^SHORT"
# Alphabetic, ideographic and phonetic groups of a person name (PS3.5 6.2.1.2).
LONG = "YAMADA^TARO=" + "山田太郎鈴木花子" * 8 + "=" + "やまだたろう" * 5 + "やま"
HEALTH = r"""
import json, sys
from pacsgate_listener import records
print(json.dumps(records.health(sys.argv[1], sys.argv[2])))
"""


def health(host, gw):
    res = host.run("/opt/pypx/bin/python -I -c %s %s %s", HEALTH, gw["tmp_dir"], gw["log_dir"])
    assert res.rc == 0, res.stderr
    return json.loads(res.stdout)


def test_name_too_long_is_quarantined_and_counted(host, gw, tmp_path):
    unit = FILER_UNIT % gw["service_name"]
    study_uid = generate_uid()
    too_long = len((PATIENT_ID + "-" + pypx_spelling(LONG)).encode("utf-8"))
    assert too_long > 255, too_long
    before = health(host, gw)
    fine = write_instances(str(tmp_path), 8, prefix="fine", study_uid=study_uid, patient_id=PATIENT_ID, patient_name=FINE)
    long_ = write_instances(str(tmp_path), 2, prefix="long", study_uid=study_uid, patient_id=PATIENT_ID,
                            patient_name=LONG, charset=UTF8)
    paths = fine[:4] + long_ + fine[4:]
    sources = sources_of(paths)
    sender = Sender(gw, paths, gap=0)
    sender.start()
    sender.join(120)
    figures = account(host, gw, study_uid, sender, sources)
    state = gateway_state(host, gw, study_uid)
    after = health(host, gw)
    long_uids = set(sources_of(long_))
    reasons = {}
    for uid in long_uids:
        res = host.run("cat %s/quarantine/*/CT.%s.reason.json", gw["tmp_dir"], uid)
        reasons[uid] = json.loads(res.stdout) if res.rc == 0 else {}
    count_zero_loss("patient name too long for the file system (%d bytes)" % too_long, figures,
                    not_acknowledged=len(sender.sent) - len(sender.acknowledged),
                    **{"quarantined ENAMETOOLONG": sum(1 for r in reasons.values() if r.get("errno") == "ENAMETOOLONG"),
                       "counted by records.health": (after["quarantine_reasons"].get("ENAMETOOLONG", 0)
                                                     - before["quarantine_reasons"].get("ENAMETOOLONG", 0))})
    assert sender.error is None and len(sender.acknowledged) == len(paths), sender.error
    assert_zero_loss(figures)
    assert figures["quarantined with a reason"] == len(long_) and figures["filed byte-identical"] == len(fine)
    assert set(state["filed"]) == set(sources) - long_uids
    for uid, reason in reasons.items():
        assert reason.get("errno") == "ENAMETOOLONG", reason
        assert "over the file system's limit of 255" in reason.get("reason", ""), reason
        assert PATIENT_ID not in json.dumps(reason) and "YAMADA" not in json.dumps(reason)
    # One record for the association: the fine instances filed, the others quarantined.
    assert [(r["filed"], r["quarantined"]) for r in study_records(state).values()] == [(len(fine), len(long_))]
    assert after["quarantine_reasons"].get("ENAMETOOLONG", 0) - before["quarantine_reasons"].get("ENAMETOOLONG", 0) == len(long_)
    assert after["quarantined_instances"] - before["quarantined_instances"] == len(long_)
    needles = [PATIENT_ID, FINE, LONG, pypx_spelling(FINE), pypx_spelling(LONG), "YAMADA", "山田"]
    assert patient_data_in_journal(host, unit, needles) == []
