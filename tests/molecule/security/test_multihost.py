"""A declared PACS is served, bursts included; an undeclared host is refused and logged.

Runs on the control host with testinfra against the three containers of the security scenario:
the studies are generated here and copied into the PACS container, which sends them with dcmtk."""

import subprocess

import pytest

import dicomstudy
from harness import count

GATEWAY, PACS, INTRUDER = "pacsgate-security-gw", "pacsgate-security-pacs", "pacsgate-security-intruder"
GW_IP, PACS_IP, INTRUDER_IP = "172.30.250.10", "172.30.250.20", "172.30.250.30"
PORT, AET = 10402, "CHRISLOCAL"
BURST = 50

testinfra_hosts = ["ansible://" + GATEWAY]


def on(name, command):
    """Run a shell command in one of the scenario's containers."""
    return subprocess.run(["docker", "exec", name, "sh", "-c", command],
                          capture_output=True, text=True, timeout=600, check=False)


def count_filed(study_uid):
    res = on(GATEWAY, "find /home/dicom/data -path '*%s*' -name '*.dcm' | wc -l" % study_uid)
    return int(res.stdout.strip() or 0)


def wait_filed(study_uid, expected, seconds=180):
    for _second in range(seconds):
        if count_filed(study_uid) >= expected:
            break
        on(GATEWAY, "sleep 1")
    return count_filed(study_uid)


@pytest.fixture(scope="module")
def study_in_pacs(tmp_path_factory):
    """A 2-series, 120-instance study and a 50-instance burst study, copied into the PACS container."""
    root = tmp_path_factory.mktemp("pacs")
    study = dicomstudy.make_study(str(root / "study"), series=2, per_series=60)
    burst = dicomstudy.make_study(str(root / "burst"), series=1, per_series=BURST)
    on(PACS, "rm -rf /srv/dicom && mkdir -p /srv/dicom")
    subprocess.run(["docker", "cp", str(root / "study"), PACS + ":/srv/dicom/study"], check=True)
    subprocess.run(["docker", "cp", str(root / "burst"), PACS + ":/srv/dicom/burst"], check=True)
    return study, burst


def test_only_from_lists_loopback_and_the_pacs():
    text = on(GATEWAY, "cat /etc/xinetd.d/dicomlistener").stdout
    assert "only_from       = 127.0.0.1 %s\n" % PACS_IP in text


def test_declared_pacs_sends_a_study_that_is_filed(study_in_pacs):
    study, _burst = study_in_pacs
    res = on(PACS, "TCP_NODELAY=1 storescu -aet PACSGATE-PACS -aec %s +sd %s %d /srv/dicom/study" % (AET, GW_IP, PORT))
    assert res.returncode == 0, res.stderr
    filed = wait_filed(study["study_uid"], 120)
    count("study from the declared PACS", sent=120, filed=filed)
    assert filed == 120


def test_intruder_is_refused_and_logged():
    res = on(INTRUDER, "echoscu -aet INTRUDER -aec %s -to 10 %s %d" % (AET, GW_IP, PORT))
    aborted = res.returncode != 0 and "Peer aborted Association" in res.stdout + res.stderr
    count("associations from the undeclared intruder", tried=1, aborted=int(aborted))
    assert res.returncode != 0
    assert "Peer aborted Association" in res.stdout + res.stderr
    res = on(INTRUDER, "storescu -aet INTRUDER -aec %s -to 10 %s %d /etc/hostname" % (AET, GW_IP, PORT))
    assert res.returncode != 0
    refused = "FAIL: dicomlistener address from=%s" % INTRUDER_IP
    for _attempt in range(60):
        log = on(GATEWAY, "journalctl -t xinetd --no-pager").stdout
        if refused in log:
            break
        on(GATEWAY, "sleep 0.5")
    assert refused in log


def test_the_pacs_host_with_another_calling_aetitle_is_rejected():
    """Its address may send, but only as the AE title the PACS list ties to it."""
    res = on(PACS, "echoscu -aet SPOOFED -aec %s -to 10 %s %d" % (AET, GW_IP, PORT))
    count("associations from the PACS host under another AE title", tried=1,
          rejected=int("Calling AE Title Not Recognized" in res.stderr))
    assert res.returncode != 0 and "Calling AE Title Not Recognized" in res.stderr, res.stderr
    assert "refused calling-aetitle" in on(GATEWAY, "cat /home/dicom/log/associations.log").stdout


def test_burst_of_simultaneous_associations_is_accepted_and_filed(study_in_pacs):
    _study, burst = study_in_pacs
    # One association per instance, all opened at once; the sender allows 120 s for the answer.
    script = (
        "cd /srv/dicom/burst && for f in *.dcm; do "
        "(TCP_NODELAY=1 storescu -ta 120 -to 120 -aet PACSGATE-PACS -aec %s %s %d $f; echo \"$f $?\") "
        "> /tmp/burst-$f.log 2>&1 & done; wait; tail -qn1 /tmp/burst-*.log" % (AET, GW_IP, PORT)
    )
    res = on(PACS, script)
    codes = [line.rsplit(" ", 1)[-1] for line in res.stdout.split("\n") if line.strip()]
    accepted = codes.count("0")
    filed = wait_filed(burst["study_uid"], BURST)
    count("burst of simultaneous associations", sent=BURST, accepted=accepted, filed=filed)
    assert len(codes) == BURST
    assert accepted == BURST, res.stdout
    assert filed == BURST
    # xinetd did not pause the service: it still answers at once.
    assert on(PACS, "echoscu -aet PACSGATE-PACS -aec %s %s %d" % (AET, GW_IP, PORT)).returncode == 0


def test_gateway_listener_health(host):
    assert host.service("xinetd").is_running
    assert host.socket("tcp://0.0.0.0:%d" % PORT).is_listening


def test_hosts_are_what_the_scenario_says():
    for name, ip in ((GATEWAY, GW_IP), (PACS, PACS_IP), (INTRUDER, INTRUDER_IP)):
        assert ip in on(name, "hostname -I").stdout


def test_check_mode_on_a_fresh_host_changes_nothing(tmp_path):
    """A dry run of the site playbook against the intruder, a Debian host the role never touched."""
    inventory = tmp_path / "fresh.yml"
    inventory.write_text(
        "pacs_gateways:\n  hosts:\n    %s:\n      ansible_connection: community.docker.docker\n" % INTRUDER)
    watched = "/etc /opt /home /usr/local /var/lib/dpkg/status"
    digest = ("find %s -xdev -printf '%%p %%s %%T@ %%m %%u\\n' 2>/dev/null | grep -v '^/etc/ld.so.cache' "
              "| sort | sha256sum" % watched)
    before = on(INTRUDER, digest).stdout
    res = subprocess.run(["ansible-playbook", "-i", str(inventory), "pacsgate.listener.site", "--check", "--diff",
                          "-e", '{"dicom_listener_pacs": [{"name": "pacs", "aetitle": "P", "host": "%s", "port": 104}]}'
                          % PACS_IP],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "+service dicomlistener" in res.stdout  # the diff of the file it would write
    assert on(INTRUDER, digest).stdout == before
