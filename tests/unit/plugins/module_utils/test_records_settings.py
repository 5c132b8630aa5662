"""The helpers' settings keys the info module, the metrics writer and the status playbook read, and the
gateway's own C-ECHOs counted apart in the stats (plugins/module_utils/records.py)."""

import json

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import records

NOW = 1796126400.0  # 2026-12-01T12:00:00Z


def test_the_gateways_own_checks_are_counted_apart():
    stats = records.empty_stats()
    checks = records.check_aetitles({'verify_calling_aetitle': 'PACSGATE CHECK'})
    for line in ('2026-12-01T12:00:00Z accepted - id=a peer=127.0.0.1 calling=PACSGATE_CHECK called=AE',
                 '2026-11-30T12:00:00Z accepted - id=b peer=10.1.2.3 calling=HOSPITALPACS called=AE',
                 '2026-12-01T12:00:01Z accepted - id=c peer=10.1.2.3 calling=PACSGATE_CHECKS called=AE'):
        records.count_gate_line(stats, line, checks)
    assert (stats['associations']['accepted'], stats['associations']['checks']) == (2, 1)
    assert stats['last_association_at'] == NOW + 1
    assert records.check_aetitles({}) == frozenset()


def write_config(tmp_path, **changes):
    config = {'tmp_dir': '/srv/tmp', 'log_dir': '/srv/log', 'data_dir': '/srv/data'}
    config.update(changes)
    path = str(tmp_path / 'c.json')
    with open(path, 'w') as handle:
        json.dump(config, handle)
    return path


def test_the_listener_keys_of_the_settings(tmp_path):
    config = records.load_config(write_config(tmp_path))
    assert (config['backend'], config['pacs'], config['tls'], config['aetitle'], config['port']) == (None, [], None, None, None)
    pacs = [{'name': 'main', 'aetitle': 'HOSP', 'host': '10.1.2.3', 'port': 104}]
    config = records.load_config(write_config(tmp_path, backend='systemd', pacs=pacs, port='10402',
                                              tls={'cert': '/etc/c.crt', 'key': '/etc/c.key'}))
    assert (config['backend'], config['pacs'], config['port']) == ('systemd', pacs, 10402)
    assert config['tls'] == {'cert': '/etc/c.crt', 'key': '/etc/c.key', 'client_ca': None}


@pytest.mark.parametrize('change, message', [
    ({'backend': 'inetd'}, 'backend must be one of xinetd, systemd'),
    ({'pacs': [{'name': 'a', 'aetitle': 'A', 'host': '10.0.0.1'}]}, 'pacs[0]: the entry lacks port'),
    ({'aetitle': 'A' * 17}, 'aetitle:'),
    ({'port': 0}, 'port:'),
    ({'verify_host': '127.0.0.1\n'}, 'verify_host:'),
    ({'tls': {'cert': 'relative.crt', 'key': '/k'}}, 'cert must be an absolute path'),
    ({'tls': {'cert': '/c'}}, 'tls needs cert and key'),
    ({'tls': {'cert': '/c', 'key': '/k', 'other': '/o'}}, 'tls must be null or an object'),
    ({'metrics_file': 'metrics.prom'}, 'metrics_file must be an absolute path'),
])
def test_the_listener_keys_are_checked(tmp_path, change, message):
    with pytest.raises(ValueError) as failed:
        records.load_config(write_config(tmp_path, **change))
    assert message in str(failed.value)
