"""The metrics writer (plugins/module_utils/metrics.py) over a real tmp tree and stats file, its atomic write,
and Debian's promtool on what it writes and on the example alert rules (docs/prometheus/).

promtool comes from scripts/lib.sh (ensure_promtool, run by run_unit_tests) through PACSGATE_PROMTOOL.
Where the harness set it (even empty) or in CI, a missing promtool fails the tests; only a bare pytest
run outside the harness skips them."""

import json
import os
import stat
import subprocess

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import metrics
from ansible_collections.pacsgate.listener.plugins.module_utils import records

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
NOW = 1796126400.0  # 2026-12-01T12:00:00Z


@pytest.fixture
def promtool():
    path = os.environ.get('PACSGATE_PROMTOOL')
    if path is None and not os.environ.get('CI'):
        pytest.skip('PACSGATE_PROMTOOL is set by scripts/lib.sh run_unit_tests (ensure_promtool)')
    assert path and os.access(path, os.X_OK), (
        'promtool is missing (PACSGATE_PROMTOOL=%r): scripts/lib.sh ensure_promtool extracts it from Debian\'s '
        'prometheus package' % path)
    return path


@pytest.fixture
def gateway(tmp_path):
    base = tmp_path / 'home'
    for name in ('tmp', 'log', 'data'):
        (base / name).mkdir(parents=True)
    tmp = str(base / 'tmp')
    old = NOW - 3600
    stranded = os.path.join(tmp, 'queue', '20261201T110000-1-aaaaaaaa')
    os.makedirs(stranded)
    os.utime(stranded, (old, old))
    quarantine = os.path.join(tmp, 'quarantine', '20261201T100000-2-bbbbbbbb')
    os.makedirs(quarantine)
    with open(os.path.join(quarantine, 'CT.1.reason.json'), 'w') as handle:
        json.dump({'reason': 'x', 'errno': 'ENAMETOOLONG'}, handle)
    with open(os.path.join(tmp, '.pacsgate-refuse'), 'w') as handle:
        handle.write('free space low\n')

    def mutate(stats):
        stats['associations']['accepted'] = 40
        stats['associations']['checks'] = 1440
        stats['associations']['refused']['source'] = 2
        stats['associations']['refused']['new-reason'] = 1
        stats['associations_filed'] = 38
        stats['instances_filed'] = 1000
        stats['instances_quarantined'] = 1
        stats['instances_superseded'] = 2
        stats['bytes_filed'] = 5 << 20
        stats['last_association_at'] = NOW - 120
        stats['last_filed_at'] = NOW - 100
        for seconds in (0.05, 0.4, 3.0, 400.0):
            records.observe_latency(stats, seconds)
    records.update_stats(str(base / 'log'), mutate, now=NOW - 30)
    config = {'service': 'dicomlistener', 'backend': 'systemd', 'receiver': 'filer', 'tmp_dir': tmp,
              'log_dir': str(base / 'log'), 'data_dir': str(base / 'data'), 'refile_after_minutes': 5,
              'aetitle': 'CHRIS LOCAL', 'port': 10402, 'verify_host': '127.0.0.1',
              'verify_calling_aetitle': 'PACSGATE-CHECK', 'tls': None,
              'metrics_file': str(tmp_path / 'metrics' / 'metrics.prom')}
    os.makedirs(str(tmp_path / 'metrics'))
    path = str(tmp_path / 'dicomlistener.json')
    with open(path, 'w') as handle:
        json.dump(config, handle)
    return records.load_config(path), path


def echo_run(calls, reply=(0, '', 'I: Received Echo Response (Success)\n')):
    def run(argv):
        calls.append(argv)
        return reply
    return run


def samples(text):
    """name{labels} -> value of every sample line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            key, _sep, value = line.rpartition(' ')
            found[key] = value
    return found


def test_render_from_the_tree_and_stats(gateway):
    config, _path = gateway
    calls = []
    snapshot = metrics.collect(config, NOW, run=echo_run(calls), which=lambda name: '/usr/bin/' + name)
    text = metrics.render(config, snapshot)
    got = samples(text)
    s = 'service="dicomlistener"'
    assert calls[0][calls[0].index('-aet') + 1] == 'PACSGATE-CHECK' and calls[0][-2:] == ['127.0.0.1', '10402']
    assert got['pacsgate_up{%s}' % s] == '1'
    assert got['pacsgate_associations_accepted_total{%s}' % s] == '40'
    assert got['pacsgate_check_associations_total{%s}' % s] == '1440'
    assert got['pacsgate_associations_refused_total{reason="source",%s}' % s] == '2'
    assert got['pacsgate_associations_refused_total{reason="new-reason",%s}' % s] == '1'
    assert got['pacsgate_associations_refused_total{reason="disk",%s}' % s] == '0'
    assert got['pacsgate_instances_received_total{%s}' % s] == '1003'  # filed, quarantined or superseded
    assert got['pacsgate_instances_filed_total{%s}' % s] == '1000'
    assert got['pacsgate_instances_quarantined_total{%s}' % s] == '1'
    assert got['pacsgate_instances_superseded_total{%s}' % s] == '2'
    assert (got['pacsgate_associations_queued{%s}' % s], got['pacsgate_associations_stranded{%s}' % s]) == ('1', '1')
    assert got['pacsgate_quarantine_instances{%s}' % s] == '1'
    assert got['pacsgate_quarantine_reason_instances{reason="ENAMETOOLONG",%s}' % s] == '1'
    assert got['pacsgate_refusing{%s}' % s] == '1'
    assert got['pacsgate_filing_latency_seconds_bucket{le="0.1",%s}' % s] == '1'
    assert got['pacsgate_filing_latency_seconds_bucket{le="300",%s}' % s] == '3'
    assert got['pacsgate_filing_latency_seconds_bucket{le="+Inf",%s}' % s] == '4'
    assert got['pacsgate_filing_latency_seconds_count{%s}' % s] == '4'
    assert float(got['pacsgate_last_association_timestamp_seconds{%s}' % s]) == NOW - 120
    assert float(got['pacsgate_filer_heartbeat_timestamp_seconds{%s}' % s]) == NOW - 30
    assert int(got['pacsgate_filesystem_free_bytes{dir="data",%s}' % s]) > 0
    assert 'pacsgate_info{aetitle="CHRIS LOCAL",backend="systemd",port="10402",receiver="filer",%s} 1' % s \
        in text.splitlines()
    assert 'pacsgate_tls_certificate_expiry_timestamp_seconds' not in text
    # HELP and TYPE once per family, before its samples.
    types = [line.split()[2] for line in text.splitlines() if line.startswith('# TYPE ')]
    assert len(types) == len(set(types)) and all(name.startswith('pacsgate_') for name in types)


def test_label_values_are_escaped():
    assert metrics.escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_a_failed_echo_is_up_0_and_no_echo_leaves_it_out(gateway):
    config, _path = gateway
    down = metrics.collect(config, NOW, run=echo_run([], (1, '', 'F: refused\n')), which=lambda name: '/x/' + name)
    assert samples(metrics.render(config, down))['pacsgate_up{service="dicomlistener"}'] == '0'
    quiet = metrics.render(config, metrics.collect(config, NOW, echo=False))
    assert 'pacsgate_up' not in quiet and 'pacsgate_echo_duration_seconds' not in quiet


def test_a_gateway_without_stats_or_dirs_still_renders(tmp_path):
    config = {'service': 'x', 'tmp_dir': str(tmp_path / 'no-tmp'), 'log_dir': str(tmp_path / 'no-log'),
              'data_dir': str(tmp_path / 'no-data'), 'refile_after_minutes': 5, 'tls': None}
    text = metrics.render(config, metrics.collect(config, NOW, echo=False))
    got = samples(text)
    assert got['pacsgate_health_complete{service="x"}'] == '0'
    assert got['pacsgate_instances_filed_total{service="x"}'] == '0'
    assert 'pacsgate_last_association_timestamp_seconds' not in text


def test_write_is_atomic_and_readable_by_node_exporter(tmp_path):
    path = str(tmp_path / 'metrics.prom')
    with open(path, 'w') as handle:
        handle.write('old\n')
    before = os.stat(path).st_ino
    old_umask = os.umask(0o027)
    try:
        metrics.write(path, 'new\n')
    finally:
        os.umask(old_umask)
    st = os.stat(path)
    assert st.st_ino != before and stat.S_IMODE(st.st_mode) == 0o644
    assert open(path).read() == 'new\n' and os.listdir(str(tmp_path)) == ['metrics.prom']


def test_write_refuses_a_symlinked_directory(tmp_path):
    (tmp_path / 'real').mkdir()
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'link'))
    with pytest.raises(OSError):
        metrics.write(str(tmp_path / 'link' / 'metrics.prom'), 'x\n')
    assert os.listdir(str(tmp_path / 'real')) == []


def test_main_writes_the_settings_metrics_file(gateway, capsys):
    config, path = gateway
    assert metrics.main(['--config', path, '--no-echo']) == 0
    with open(config['metrics_file']) as handle:
        assert 'pacsgate_associations_accepted_total{service="dicomlistener"} 40' in handle.read()
    assert metrics.main(['--config', path, '--no-echo', '--output', '-']) == 0
    assert 'pacsgate_refusing{service="dicomlistener"} 1' in capsys.readouterr().out


def test_main_refuses_bad_settings(tmp_path, capsys):
    path = str(tmp_path / 'c.json')
    with open(path, 'w') as handle:
        json.dump({'tmp_dir': '/srv/tmp', 'log_dir': '/srv/log', 'data_dir': '/srv/data'}, handle)
    assert metrics.main(['--config', path]) == 2
    assert 'no metrics_file' in capsys.readouterr().err
    assert metrics.main(['--config', str(tmp_path / 'none.json')]) == 2


def test_promtool_accepts_the_metrics(gateway, promtool, tmp_path):
    config, _path = gateway
    snapshot = metrics.collect(config, NOW, run=echo_run([]), which=lambda name: '/usr/bin/' + name)
    snapshot['tls'] = {'enabled': True, 'not_after_ts': NOW + 86400, 'error': None}
    text = metrics.render(config, snapshot)
    proc = subprocess.run([promtool, 'check', 'metrics'], input=text, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0 and proc.stdout == '', proc.stdout
    assert 'pacsgate_tls_certificate_expiry_timestamp_seconds{service="dicomlistener"} 1796212800.0' in text
    # The check can fail: a counter without _total, as the writer never writes one.
    broken = text.replace('pacsgate_filed_bytes_total', 'pacsgate_filed_bytes')
    assert subprocess.run([promtool, 'check', 'metrics'], input=broken, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False).returncode != 0


def test_promtool_checks_and_tests_the_alert_rules(promtool):
    rules = os.path.join(ROOT, 'docs', 'prometheus')
    check = subprocess.run([promtool, 'check', 'rules', 'alerts.yml'], cwd=rules, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert check.returncode == 0 and 'SUCCESS: 9 rules found' in check.stdout, check.stdout
    test = subprocess.run([promtool, 'test', 'rules', 'alerts.test.yml'], cwd=rules, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert test.returncode == 0 and 'SUCCESS' in test.stdout, test.stdout


def test_the_alerts_use_only_metrics_the_writer_writes(gateway):
    import re
    config, _path = gateway
    snapshot = metrics.collect(config, NOW, run=echo_run([]), which=lambda name: '/usr/bin/' + name)
    snapshot['tls'] = {'enabled': True, 'not_after_ts': NOW, 'error': None}
    written = set(re.findall(r'^# TYPE (\S+)', metrics.render(config, snapshot), re.M))
    with open(os.path.join(ROOT, 'docs', 'prometheus', 'alerts.yml')) as handle:
        used = set(re.findall(r'\bpacsgate_[a-z_]+', handle.read())) - {'pacsgate_'}
    assert used and used <= written, used - written
