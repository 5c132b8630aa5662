"""Prometheus metrics (dicom_listener_metrics): the role installs Debian's node_exporter, a timer
writes the listener's metrics as the listener, and node_exporter's textfile collector serves them;
promtool accepts them. Counts and ages only."""

import os
import subprocess
import time

import pytest

from harness import FULL_HOST_ONLY, run_playbook

# The scenario turns metrics on for the Debian 12 gateway.
testinfra_hosts = FULL_HOST_ONLY

METRICS = "/var/lib/pacsgate/dicomlistener/metrics.prom"
LINK = "/var/lib/prometheus/node-exporter/pacsgate_dicomlistener.prom"


@pytest.fixture(scope="module")
def written(host):
    """The metrics, written now (the timer writes them every minute)."""
    res = host.run("systemctl start pacsgate-metrics-dicomlistener.service")
    assert res.rc == 0, res.stderr
    return host.file(METRICS).content_string


def test_the_timer_and_node_exporter_run(host):
    assert host.service("pacsgate-metrics-dicomlistener.timer").is_running
    assert host.service("prometheus-node-exporter").is_running


def test_the_metrics_file_is_the_listeners_and_linked_for_the_collector(host, gw, written):
    f = host.file(METRICS)
    assert (f.user, f.mode) == (gw["user"], 0o644)
    link = host.file(LINK)
    assert link.is_symlink and link.linked_to == METRICS
    # testinfra's File.user follows links (stat -L): the link's own owner is asked without -L.
    assert host.check_output("stat -c %%U %s", LINK) == "root"


def test_the_listener_is_up_and_its_counts_are_there(written, sent_study):
    lines = written.splitlines()
    assert 'pacsgate_up{service="dicomlistener"} 1' in lines
    filed = [line for line in lines if line.startswith('pacsgate_instances_filed_total{')]
    assert filed and int(float(filed[0].split()[-1])) >= sent_study["expected"]
    assert any(line.startswith("pacsgate_filing_latency_seconds_bucket{") for line in lines)


def test_promtool_accepts_them(written):
    promtool = os.environ.get("PACSGATE_PROMTOOL")
    assert promtool and os.path.exists(promtool), "the harness provides promtool (scripts/lib.sh ensure_promtool)"
    res = subprocess.run([promtool, "check", "metrics"], input=written, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_node_exporter_serves_them(host):
    body = ""
    for _attempt in range(30):
        body = host.run("python3 -c %s", "import urllib.request; "
                        "print(urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=5).read().decode())").stdout
        if 'pacsgate_up{service="dicomlistener"}' in body:
            break
        time.sleep(1)
    assert 'pacsgate_up{service="dicomlistener"} 1' in body
    assert "PACSGATE^TEST" not in body and "PACSGATE.TEST" not in body


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
def test_a_converge_never_follows_the_link_to_the_listeners_file(host, gw):
    """The listener may replace its metrics file by a link to a file of another account; the role's
    own link to it is kept without anything applied through it, so the target keeps its owner."""
    victim = "/var/lib/pacsgate-metrics-victim"
    with host.sudo():
        host.run_expect([0], "install -o nobody -g nogroup -m 0600 /dev/null %s" % victim)
        host.run_expect([0], "runuser -u %s -- ln -sfn %s %s" % (gw["user"], victim, METRICS))
    try:
        run_playbook("pacsgate.listener.site", "--tags", "dicom_listener_configure")
        f = host.file(victim)
        assert (f.user, f.group, f.mode) == ("nobody", "nogroup", 0o600)
    finally:
        with host.sudo():
            host.run("rm -f %s %s && systemctl start pacsgate-metrics-dicomlistener.service" % (METRICS, victim))
