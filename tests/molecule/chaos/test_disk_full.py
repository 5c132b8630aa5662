"""The data file system fills in the middle of a study.

The data dir is on a small tmpfs of its own (molecule/chaos/molecule.yml; the tmp dir, where
storescp receives, stays on the container's disk). A ballast file the test plants beside the data
dir leaves `min_free_mb` + 16 MB free. Series 2 of a study starts arriving (a paced association of
512 KB instances); meanwhile series 1 (18 MB) arrives in an association of its own and is filed,
which takes free space below `min_free_mb`: the filer raises the refuse flag and the gate rejects
new associations as transient (dcmtk's echoscu and storescu must say so; pynetdicom's own
reading races with a fast A-ASSOCIATE-RJ). Series 2 then ends, larger than what is left: its filing
meets ENOSPC, and the association stays in the queue with nothing of it in the data dir under its
final name and no staged copy left. Once the ballast is removed the flag goes away and everything
the gateway acknowledged is filed byte-identical."""

import json
import os
import types

import pytest
from pydicom.uid import generate_uid

from chaoskit import gateway_state, write_instances
from harness import (FILER_UNIT, SENDER_AET, Sender, account, assert_zero_loss, count_zero_loss, dcmtk,
                     patient_data_in_journal, pypx_spelling, sources_of, wait_until)

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

PATIENT_ID, PATIENT_NAME = "PGFULL2024", "CHAOS^FULL"
PIXELS = (512, 512)                     # 512 KB of pixel data per instance
FIRST_SERIES = 36                       # 18 MB
HEADROOM_MB = 16                        # free above min_free_mb before the study
REJECTED = ("Rejected Transient", "Temporary Congestion")


def config(host, gw):
    return json.loads(host.file("/etc/pacsgate/%s.json" % gw["service_name"]).content_string)


def free_mb(host, path):
    return int(host.run("python3 -c %s %s", "import os,sys; s=os.statvfs(sys.argv[1]); print(s.f_bavail*s.f_frsize//1048576)",
                        path).stdout)


def flag(host, gw):
    return host.file(os.path.join(gw["tmp_dir"], ".pacsgate-refuse")).exists


def refused_as_transient(gw, probe):
    """(echoscu's and storescu's output) when both were rejected as transient (temporary congestion)."""
    outputs = []
    for argv in (["echoscu"], ["storescu"]):
        res = dcmtk(*(argv + ["-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(gw["port"])]
                      + ([probe] if argv == ["storescu"] else [])), timeout=60)
        outputs.append((res.returncode, res.stdout + res.stderr))
    return outputs


def kept_for_lack_of_space(host, gw, unit):
    """The associations in the queue whose filing the filer logged as kept there after ENOSPC."""
    queued = host.run("ls %s", os.path.join(gw["tmp_dir"], "queue")).stdout.split()
    log = host.run("journalctl -u %s --no-pager -o cat", unit).stdout.splitlines()
    return [name for name in queued
            if any("association %s: " % name in line and "ENOSPC; kept in the queue" in line for line in log)]


def test_data_dir_fills_mid_study(host, gw, tmp_path):
    unit = FILER_UNIT % gw["service_name"]
    min_free = config(host, gw)["min_free_mb"]
    assert 0 < min_free < 64, "the scenario sets a min_free_mb the small data file system can test"
    ballast = os.path.join(os.path.dirname(gw["data_dir"]), "pacsgate-chaos-ballast")
    study_uid = generate_uid()
    first = write_instances(str(tmp_path / "first"), FIRST_SERIES, study_uid=study_uid, patient_id=PATIENT_ID,
                            patient_name=PATIENT_NAME, pixels=PIXELS, series_number=1)
    second = write_instances(str(tmp_path / "second"), 80, study_uid=study_uid, patient_id=PATIENT_ID,
                             patient_name=PATIENT_NAME, pixels=PIXELS, series_number=2)
    probe = write_instances(str(tmp_path / "probe"), 1, patient_id=PATIENT_ID, patient_name=PATIENT_NAME)[0]
    sources = sources_of(first + second)
    seen = {}
    late = Sender(gw, second, gap=0.1, at_least=40)
    try:
        size = (free_mb(host, gw["data_dir"]) - min_free - HEADROOM_MB) * 1048576
        assert size > 0
        assert host.run("fallocate -l %s %s", str(size), ballast).rc == 0
        assert wait_until(lambda: not flag(host, gw), 10), "the refuse flag is there before the study"
        late.start()
        assert wait_until(lambda: len(late.acknowledged) >= 3 or not late.is_alive(), 60), late.error
        early = Sender(gw, first, gap=0)
        early.start()
        early.join(120)
        seen["flag"] = wait_until(lambda: flag(host, gw), 15)
        seen["refusals"] = refused_as_transient(gw, probe) if seen["flag"] else []
        seen["late alive while refused"] = late.is_alive()
        late.stop.set()
        late.join(120)
        # Series 2's filing meets the full file system and is kept in the queue.
        seen["kept"] = wait_until(lambda: kept_for_lack_of_space(host, gw, unit), 30)
        state = gateway_state(host, gw, study_uid)
        second_uids = set(late.acknowledged)
        seen["queued"] = len(state["places"]["queue"])
        seen["final second"] = sorted(set(state["filed"]) & second_uids)
        seen["temps"] = state["temps"]
        seen["first filed"] = sum(1 for uid in early.acknowledged if [d for _p, d in state["filed"].get(uid, [])] == [sources[uid]])
    finally:
        host.run("rm -f %s", ballast)
    seen["flag gone"] = wait_until(lambda: not flag(host, gw), 15)
    both = types.SimpleNamespace(acknowledged=early.acknowledged + late.acknowledged)
    figures = account(host, gw, study_uid, both, sources, timeout=120)
    flag_after = wait_until(lambda: not flag(host, gw), 10)
    count_zero_loss("data file system full mid-study (%d MB tmpfs, min_free_mb %d)" % (
        int(host.run("df -m --output=size %s | tail -1", gw["data_dir"]).stdout), min_free), figures,
        not_acknowledged=len(early.sent) + len(late.sent) - len(both.acknowledged),
        **{"refused while full": sum(1 for rc, out in seen.get("refusals", []) if rc != 0 and all(r in out for r in REJECTED)),
           "kept queued after ENOSPC": len(seen.get("kept") or [])})
    assert early.error is None and late.error is None and not late.aborted, (early.error, late.error)
    assert len(early.acknowledged) == FIRST_SERIES and len(late.acknowledged) == len(late.sent) >= 40
    assert seen["flag"], "the refuse flag did not appear"
    for rc, out in seen["refusals"]:
        assert rc != 0 and all(r in out for r in REJECTED), out
    assert seen["late alive while refused"], "series 2 was over before the refusals were tried"
    assert seen["kept"], "series 2's filing never met the full file system"
    assert seen["queued"] >= 1 and seen["final second"] == [] and seen["temps"] == 0, seen
    assert seen["first filed"] == FIRST_SERIES
    assert seen["flag gone"] and flag_after
    assert_zero_loss(figures)
    assert figures["quarantined with a reason"] == 0
    needles = [PATIENT_ID, PATIENT_NAME, pypx_spelling(PATIENT_NAME)]
    assert patient_data_in_journal(host, unit, needles) == []
