"""Housekeeping (its timer's unit, sandboxed, as the listener): removes received copies whose
filing is recorded and still verifies, once old enough; keeps everything else; rotates logs."""

import time

import dicomstudy
from harness import FULL_HOST_ONLY, SENDER_AET, dcmtk, filing_records

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY

# Make a filed association look two days old: its record's filing time and its dir's mtime.
_AGE = r"""
import json, os, sys, time
path = os.path.join(sys.argv[1], '.pacsgate-record.json')
with open(path) as handle:
    record = json.load(handle)
record['filed_at'] = time.time() - 2 * 86400
with open(path, 'w') as handle:
    json.dump(record, handle)
print(record['files'][0]['filed_as'] if record['files'] else '')
"""


def unit(gw):
    return "pacsgate-housekeeping-%s" % gw["service_name"]


def test_timer_is_enabled_and_waiting(host, gw):
    timer = host.service(unit(gw) + ".timer")
    assert timer.is_enabled and timer.is_running


def age(host, association_dir):
    out = host.run("python3 -c %s %s", _AGE, association_dir)
    assert out.rc == 0, out.stderr
    host.run("touch -h -d '2 days ago' %s %s/*", association_dir, association_dir)
    return out.stdout.strip()


def test_housekeeping_removes_only_what_is_recorded_and_verified(host, gw, sent_study, tmp_path):
    assert len(sent_study["filed"]) == sent_study["expected"]

    def with_instances():
        return sorted(r["association"] for r in filing_records(host, gw["tmp_dir"]) if r["instances"])

    before = len(with_instances())
    for number in range(2):  # two more associations with instances: old, changed and recent below
        dicomstudy.make_study(str(tmp_path / str(number)), series=1, per_series=3)
        res = dcmtk("storescu", "-aet", SENDER_AET, "-aec", gw["aetitle"], "+sd", gw["ip"], str(gw["port"]),
                    str(tmp_path / str(number)))
        assert res.returncode == 0, res.stderr
    for _second in range(30):
        if len(with_instances()) >= before + 2:
            break
        time.sleep(1)
    tmp, data, log = gw["tmp_dir"], gw["data_dir"], gw["log_dir"]
    filed_before = int(host.run("find %s -name '*.dcm' | wc -l", data).stdout)
    # Associations with instances (C-ECHOs leave empty ones): the oldest two and the newest.
    with_files = with_instances()
    assert len(with_files) >= 3, with_files
    old, changed, recent = ["%s/filed/%s" % (tmp, name) for name in (with_files[0], with_files[1], with_files[-1])]
    age(host, old)
    # A filed copy that changed since filing: its received copy is the only intact one left.
    victim = age(host, changed)
    host.run("cp -p %s/%s /tmp/pacsgate-keep && printf x >> %s/%s", data, victim, data, victim)
    # A received copy whose filing has no record, two days old: kept, whatever its place.
    host.run("install -d -o %s -g %s %s/filed/20000101T000000-1-deadbeef && runuser -u %s -- touch %s/filed/20000101T000000-1-deadbeef/CT.1.2.3 && "
             "touch -d '2 days ago' %s/filed/20000101T000000-1-deadbeef", gw["user"], gw["group"], tmp, gw["user"], tmp, tmp)
    # The gate's log over the rotation size, and one of px-listen's per-association logs from long
    # ago (both as the listener would have made them).
    host.run("runuser -u %s -- sh -c 'truncate -s 17M %s/associations.log && touch -d \"40 days ago\" %s/out-old.txt'",
             gw["user"], log, log)
    try:
        res = host.run("systemctl start %s.service", unit(gw))
        journal = host.run("journalctl -u %s.service -n 20 --no-pager", unit(gw)).stdout
        assert res.rc == 0, res.stderr + journal
        assert not host.file(old).exists
        assert host.file(recent).exists
        assert host.file(changed).exists
        assert host.file(tmp + "/filed/20000101T000000-1-deadbeef/CT.1.2.3").exists
        assert "1 without a record" in journal, journal
        assert int(host.run("find %s -name '*.dcm' | wc -l", data).stdout) == filed_before
        assert "removed 1 filed association dir(s)" in journal, journal
        assert "1 changed since filing" in journal, journal
        assert host.file(log + "/associations.log.1").exists and host.file(log + "/associations.log.1").size > 16 << 20
        assert not host.file(log + "/out-old.txt").exists
    finally:
        host.run("cp -p /tmp/pacsgate-keep %s/%s", data, victim)
        host.run("rm -rf %s/filed/20000101T000000-1-deadbeef %s/associations.log.1", tmp, log)
