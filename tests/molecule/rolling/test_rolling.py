"""A rolling update of two gateways while a PACS keeps sending studies to both.

Runs on the control host (the Docker host is the PACS declared on both gateways). Sender threads
send small studies to each gateway, one association per study, and resend a study whose
association was refused, as a PACS does. Meanwhile the collection's rolling playbook (serial: 1)
adds a second PACS to every gateway, which rewrites the service file and pypx's pacs.json and
restarts xinetd. Every instance sent must be filed, and the gateways must have been updated one
after the other: the role ran on the second only after the first answered its C-ECHO."""

import datetime
import json
import os
import subprocess
import threading
import time

import pytest

import harness as shared

dicomstudy = shared.dicomstudy
GATEWAYS = ("pacsgate-rolling-gw1", "pacsgate-rolling-gw2")
PORT, AET, DATA = 10402, "CHRISLOCAL", "/home/dicom/data"
SECOND_PACS = {"name": "second-pacs", "aetitle": "SECOND-PACS", "host": "192.0.2.10", "port": 11112}
INSTANCES_PER_STUDY = 3
MAX_ATTEMPTS = 60
PAUSE = 2

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")


def on(name, command):
    """Run a shell command in one of the scenario's containers."""
    return subprocess.run(["docker", "exec", name, "sh", "-c", command],
                          capture_output=True, text=True, timeout=600, check=False)


def container_ip(name):
    return subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                           name], check=True, capture_output=True, text=True).stdout.split()[0]


def xinetd_started(name):
    """When the gateway's xinetd started, in seconds since the epoch (the containers share the host's clock)."""
    pid = on(name, "pgrep -o -x xinetd").stdout.strip()
    ticks = int(on(name, "cut -d' ' -f22 /proc/%s/stat" % pid).stdout)
    boot = float(on(name, "awk '/^btime/ {print $2}' /proc/stat").stdout)
    return pid, boot + ticks / os.sysconf("SC_CLK_TCK")


def filed_uids(name):
    out = on(name, "find %s -name '*.dcm' -printf '%%f\\n'" % DATA).stdout.split()
    return {os.path.basename(p)[:-4].split("-", 1)[1] for p in out}


def parse_time(stamp):
    return datetime.datetime.fromisoformat(stamp.rstrip("Z")).replace(tzinfo=datetime.timezone.utc).timestamp()


class Sender(threading.Thread):
    """Sends a fresh small study to one gateway after another until stopped; retries refusals."""

    def __init__(self, gateway, ip, workdir):
        super().__init__(daemon=True)
        self.gateway, self.ip, self.workdir = gateway, ip, workdir
        self.stop = threading.Event()
        self.studies = []

    def run(self):
        n = 0
        while not self.stop.is_set():
            study_dir = os.path.join(self.workdir, "%s-%04d" % (self.gateway, n))
            manifest = dicomstudy.make_study(study_dir, series=1, per_series=INSTANCES_PER_STUDY,
                                             description="ROLLING %d" % n)
            record = {"uids": [u for s in manifest["series"].values() for u in s],
                      "start": time.time(), "attempts": 0, "ok": False, "errors": []}
            while record["attempts"] < MAX_ATTEMPTS:
                record["attempts"] += 1
                res = shared.dcmtk("storescu", "-ta", "120", "-to", "120", "-aet", shared.SENDER_AET, "-aec", AET,
                                   "+sd", self.ip, str(PORT), study_dir, timeout=300)
                if res.returncode == 0:
                    record["ok"] = True
                    break
                record["errors"].append((res.stdout + res.stderr).strip()[-200:])
                time.sleep(1)
            record["end"] = time.time()
            self.studies.append(record)
            n += 1
            # A short pause between studies keeps both gateways busy without starving the
            # rollout of CPU on a small machine (every association starts a Python process).
            self.stop.wait(PAUSE)


def json_report(stdout):
    """The ansible.posix.json callback's report; other callbacks (profile_tasks) print around it."""
    lines = stdout.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.rstrip() == "{":
            return json.JSONDecoder().raw_decode("".join(lines[i:]))[0]
    return {"plays": [], "stats": {}}


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(1)
    return predicate()


@pytest.fixture(scope="module")
def rollout(tmp_path_factory):
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    host_vars = json.loads(subprocess.run(["ansible-inventory", "-i", inventory, "--host", GATEWAYS[0]],
                                          capture_output=True, text=True, check=True).stdout)
    pacs = host_vars["dicom_listener_pacs"] + [SECOND_PACS]
    before = {gw: xinetd_started(gw) for gw in GATEWAYS}
    workdir = str(tmp_path_factory.mktemp("rolling"))
    senders = {gw: Sender(gw, container_ip(gw), workdir) for gw in GATEWAYS}
    for sender in senders.values():
        sender.start()
    # Sending is under way on both gateways before the rollout starts.
    assert wait_for(lambda: all(len(s.studies) >= 2 for s in senders.values()), 300)
    started = time.time()
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    res = subprocess.run(["ansible-playbook", "-i", inventory, "pacsgate.listener.rolling",
                          "-e", json.dumps({"dicom_listener_pacs": pacs})],
                         capture_output=True, text=True, timeout=1200, check=False, env=env)
    ended = time.time()
    # And goes on for a while after it.
    counts = {gw: len(s.studies) for gw, s in senders.items()}
    wait_for(lambda: all(len(s.studies) >= counts[gw] + 2 for gw, s in senders.items()), 300)
    for sender in senders.values():
        sender.stop.set()
    for sender in senders.values():
        sender.join(timeout=600)
    sent = {gw: {u for r in s.studies for u in r["uids"]} for gw, s in senders.items()}
    for gw in GATEWAYS:
        wait_for(lambda gw=gw: sent[gw] <= filed_uids(gw), 300)
    report = json_report(res.stdout)
    summary = {gw: {"studies": len(s.studies), "instances": len(sent[gw]),
                    "retried_studies": sum(1 for r in s.studies if r["attempts"] > 1)}
               for gw, s in senders.items()}
    print("rolling: playbook %.0f s; %s" % (ended - started, json.dumps(summary)))
    for gw in GATEWAYS:
        shared.count("studies sent to %s during the rolling update" % gw, studies=len(senders[gw].studies),
                     instances_sent=len(sent[gw]), instances_filed=len(sent[gw] & filed_uids(gw)))
    return {"res": res, "report": report, "started": started, "ended": ended, "before": before,
            "after": {gw: xinetd_started(gw) for gw in GATEWAYS}, "senders": senders, "sent": sent}


def test_rolling_playbook_succeeded_on_both_gateways(rollout):
    res = rollout["res"]
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    stats = rollout["report"]["stats"]
    for gw in GATEWAYS:
        assert stats[gw]["failures"] == 0 and stats[gw]["unreachable"] == 0
        assert stats[gw]["changed"] > 0, stats[gw]


def test_gateways_were_updated_one_after_the_other(rollout):
    spans = {gw: [] for gw in GATEWAYS}
    restarts = {}
    # The connect play before it only reads facts, on every gateway at once; the serial play is the rollout.
    plays = [p for p in rollout["report"]["plays"] if p["play"]["name"] == "Update PACS gateways one at a time"]
    assert plays, [p["play"]["name"] for p in rollout["report"]["plays"]]
    for play in plays:
        for task in play["tasks"]:
            hosts = set(task["hosts"])
            assert len(hosts) <= 1, "task %r ran on %s at once" % (task["task"]["name"], sorted(hosts))
            for gw in hosts:
                spans[gw].append(parse_time(task["task"]["duration"]["start"]))
                spans[gw].append(parse_time(task["task"]["duration"]["end"]))
                if task["task"]["name"].split(" : ")[-1] == "Restart xinetd" and task["hosts"][gw].get("changed"):
                    restarts[gw] = parse_time(task["task"]["duration"]["end"])
    assert sorted(restarts) == sorted(GATEWAYS), "xinetd restarted by the handler on %s" % sorted(restarts)
    first, second = sorted(GATEWAYS, key=lambda gw: min(spans[gw]))
    # Everything the role did on the second gateway came after everything it did on the first,
    # its verify step (C-ECHO) included.
    assert max(spans[first]) <= min(spans[second])
    # xinetd was really restarted on each, the second after the first's rollout had ended.
    for gw in GATEWAYS:
        assert rollout["after"][gw][0] != rollout["before"][gw][0]
    assert rollout["after"][first][1] < rollout["after"][second][1]
    assert rollout["after"][second][1] > max(spans[first]) - 1


def test_both_gateways_kept_receiving_throughout(rollout):
    for gw, sender in rollout["senders"].items():
        studies = sender.studies
        assert studies[0]["start"] < rollout["started"] and studies[-1]["end"] > rollout["ended"], gw
        failed = [r for r in studies if not r["ok"]]
        assert not failed, "%s: %d studies never accepted: %s" % (gw, len(failed), failed[0]["errors"][-3:])


def test_every_instance_sent_is_filed(rollout):
    for gw in GATEWAYS:
        lost = rollout["sent"][gw] - filed_uids(gw)
        assert not lost, "%s: %d of %d instances sent were not filed" % (gw, len(lost), len(rollout["sent"][gw]))


def test_new_configuration_is_live_on_both(rollout):
    assert rollout["res"].returncode == 0
    for gw in GATEWAYS:
        service = on(gw, "cat /etc/xinetd.d/dicomlistener").stdout
        assert SECOND_PACS["host"] in service
        res = on(gw, "su -s /bin/sh dicom -c '/opt/pypx/bin/px-smdb --logdir /home/dicom/log --action PACS'")
        assert res.returncode == 0, res.stdout + res.stderr
        found = json.loads(res.stdout[res.stdout.index("{"):])["PACS"]
        assert found[SECOND_PACS["name"]] == {"aet": AET, "aec": SECOND_PACS["aetitle"], "ip": SECOND_PACS["host"],
                                              "port": str(SECOND_PACS["port"])}
        assert set(found) == {"test-sender", SECOND_PACS["name"]}
