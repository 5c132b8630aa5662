"""The status playbook's filters (plugins/filter/status.py): the fleet table, the details, the failures."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.filter import status


def result(**changes):
    found = {
        'host_ip': '10.0.0.5', 'aetitle': 'CHRISLOCAL', 'backend': 'xinetd', 'receiver': 'filer', 'port': 10402,
        'listener': {'manager': 'xinetd', 'found': True, 'running': True, 'enabled': True, 'listening': True,
                     'disable': False, 'definition': '/etc/xinetd.d/dicomlistener', 'port': 10402},
        'filer': {'unit': 'pacsgate-filer-dicomlistener', 'running': True, 'enabled': True},
        'echo': {'ok': True, 'rtt_ms': 12.4, 'message': 'answered with Success'},
        'pacs_echo': [{'name': 'main', 'ok': True, 'line': 'PACS main (AE title HOSP at 10.1.2.3:104): answers C-ECHO (3 ms)'}],
        'tls': {'enabled': False},
        'health': {'last_association_age': 190.0, 'received_today': 120, 'stranded': 0, 'quarantined_instances': 0,
                   'quarantine_reasons': {}, 'receiving': 1, 'queued': 0, 'refuse': False, 'instances_filed': 5000,
                   'last_filed_age': 185.0, 'associations_accepted': 40, 'associations_refused': {'source': 2},
                   'associations_checks': 7, 'filer_updated_age': 30.0,
                   'disk': {'tmp': {'free_percent': 47.7, 'free_bytes': 50 << 30},
                            'data': {'free_percent': 12.25, 'free_bytes': 20 << 30}}},
        'problems': [],
        'summary': 'Send to AE title CHRISLOCAL at 10.0.0.5:10402: the listener answers C-ECHO (12 ms)',
    }
    found.update(changes)
    return found


def sick():
    found = result(host_ip='10.0.0.6', echo={'ok': False, 'rtt_ms': 10.0, 'message': 'refused'},
                   problems=[{'condition': 'echo', 'message': 'the listener did not answer a C-ECHO: refused'},
                             {'condition': 'tls', 'message': 'the TLS certificate expires on 2026-12-10T00:00:00Z'}],
                   summary='Send to AE title CHRISLOCAL at 10.0.0.6:10402: C-ECHO FAILED')
    found.update(health=dict(found['health'], stranded=2, quarantined_instances=3, last_association_age=None,
                             quarantine_reasons={'EINVAL': 3}))
    return found


SICK = sick()


class HostVars(dict):
    """hostvars as a filter sees it: a mapping of host to its variables."""


def test_table_rows():
    lines = status.dicom_listener_status_report(
        HostVars(gw1={'__dicom_listener_status': result()}, gw2={'__dicom_listener_status': SICK}, gw3={}),
        ['gw1', 'gw2', 'gw3'])
    assert lines[:5] == [
        'gateway  address   AE title    up           last association  today  stranded  quarantined  disk free',
        'gw1      10.0.0.5  CHRISLOCAL  yes          3 min             120    0         0            12.2 %',
        'gw2      10.0.0.6  CHRISLOCAL  NO           never             120    2         3            12.2 %',
        'gw3      -         -           UNREACHABLE  -                 -      -         -            -',
        '3 gateway(s), 2 failing: gw2, gw3',
    ]


def test_details_per_gateway():
    lines = status.dicom_listener_status_report({'gw1': {'__dicom_listener_status': result()},
                                                 'gw2': {'__dicom_listener_status': SICK}}, ['gw1', 'gw2'])
    gw1 = lines[lines.index('== gw1 =='):lines.index('== gw2 ==')]
    assert gw1[1] == result()['summary']
    assert ('listener: xinetd backend, xinetd running, enabled at boot; service /etc/xinetd.d/dicomlistener (found); '
            'port 10402 listening') in gw1
    assert 'C-ECHO to the listener: answered with Success (12 ms)' in gw1
    assert result()['pacs_echo'][0]['line'] in gw1
    assert 'associations: 40 accepted, 2 refused (source 2); last 3 min ago; 7 C-ECHO(s) of the gateway itself' in gw1
    assert ('instances: 120 received today, 5000 filed in all, last filed 3 min ago; 1 receiving, 0 queued, '
            '0 stranded, 0 in quarantine') in gw1
    assert 'disk: data 12.2 % free (20.0 GiB); tmp 47.7 % free (50.0 GiB); the filer last wrote its statistics 30 s ago' in gw1
    assert gw1[-2:] == ['problems: none', '']
    gw2 = lines[lines.index('== gw2 =='):]
    assert 'problem (echo), FAILS: the listener did not answer a C-ECHO: refused' in gw2
    assert 'problem (tls): the TLS certificate expires on 2026-12-10T00:00:00Z' in gw2
    assert 'C-ECHO to the listener: FAILED: refused' in gw2


def test_px_listen_nulls_print_as_unknown():
    lines = status.details('gw', result(px_listen={'link': '/opt/pypx/bin/px-listen', 'target': None, 'version': None}),
                           ['listener'])
    assert 'px-listen: /opt/pypx/bin/px-listen -> unknown, version unknown' in lines


def test_failures_follow_fail_on():
    assert status.dicom_listener_status_failures(SICK) == ['the listener did not answer a C-ECHO: refused']
    assert status.dicom_listener_status_failures(SICK, ['tls']) == ['the TLS certificate expires on 2026-12-10T00:00:00Z']
    assert status.dicom_listener_status_failures(SICK, []) == []
    assert status.dicom_listener_status_failures(result()) == []
    with pytest.raises(AnsibleFilterError, match='fail_on\\[0\\]: "echos" is no condition'):
        status.dicom_listener_status_failures(SICK, ['echos'])


def test_fail_on_decides_who_is_failing_in_the_table():
    lines = status.dicom_listener_status_report({'gw2': {'__dicom_listener_status': SICK}}, ['gw2'], ['tls'])
    assert '1 gateway(s), 1 failing: gw2' in lines
    lines = status.dicom_listener_status_report({'gw2': {'__dicom_listener_status': SICK}}, ['gw2'], ['disk'])
    assert '1 gateway(s), 0 failing' in lines


def test_playbook_variables_are_checked():
    assert status.dicom_listener_status_problems({'dicom_listener_status_fail_on': ['disk'],
                                                  'dicom_listener_status_min_free_percent': 5}) == []
    problems = status.dicom_listener_status_problems({'dicom_listener_status_fail_on': 'disk',
                                                      'dicom_listener_status_min_free_percent': '5 %'})
    assert [p.split(':')[0] for p in problems] == ['dicom_listener_status_fail_on',
                                                   'dicom_listener_status_min_free_percent']


def test_the_report_prints_no_path_of_the_listeners_dirs():
    with_paths = result()
    with_paths['health'] = dict(with_paths['health'], paths={'stranded': ['/home/dicom/tmp/queue/DOE^JANE']},
                                dirs={'data_dir': '/home/dicom/data'})
    text = '\n'.join(status.dicom_listener_status_report({'gw': {'__dicom_listener_status': with_paths}}, ['gw']))
    assert '/home/dicom' not in text and 'DOE' not in text
