"""The filter pacsgate.listener.dicom_listener_gate_config (plugins/filter/gate.py)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.filter.gate import FilterModule
from ansible_collections.pacsgate.listener.plugins.module_utils import gateconf

SETTINGS = {
    'called': 'CHRISLOCAL', 'peers': [{'aetitle': None, 'source': '10.0.0.0/8'}], 'mode': 'plain',
    'refuse_flag': '/t/.pacsgate-refuse', 'incoming': '/t/incoming', 'log': '/l/associations.log', 'syslog': None,
    'acse_timeout': 30, 'argv': ['/usr/bin/storescp', '--inetd'], 'output_option': '--output-directory',
}


def test_the_filter_is_the_renderer():
    gate_config = FilterModule().filters()['dicom_listener_gate_config']
    assert gate_config(SETTINGS) == gateconf.render(SETTINGS)


def test_what_cannot_be_encoded_fails_the_task():
    gate_config = FilterModule().filters()['dicom_listener_gate_config']
    with pytest.raises(AnsibleFilterError, match='dicom_listener_gate_config: .*not an absolute path'):
        gate_config(dict(SETTINGS, log='associations.log'))


PACS = [{'name': 'main', 'aetitle': 'HOSPITALPACS', 'host': '10.1.2.3', 'port': 104},
        {'name': 'backup', 'aetitle': 'BACKUP', 'host': 'pacs2.example.org', 'port': 11112}]


def test_each_pacs_is_tied_to_its_calling_aetitle_and_sources_take_any():
    peers = FilterModule().filters()['dicom_listener_gate_peers']
    assert peers(PACS, ['127.0.0.1', '::1', '10.9.0.0/16']) == [
        {'aetitle': 'HOSPITALPACS', 'source': '10.1.2.3'},
        {'aetitle': 'BACKUP', 'source': 'pacs2.example.org'},
        {'aetitle': None, 'source': '127.0.0.1'},
        {'aetitle': None, 'source': '::1'},
        {'aetitle': None, 'source': '10.9.0.0/16'},
    ]


def test_without_the_calling_check_a_pacs_host_may_use_any_calling_aetitle():
    peers = FilterModule().filters()['dicom_listener_gate_peers']
    assert [rule['aetitle'] for rule in peers(PACS, [], False)] == [None, None]


def test_the_rules_render():
    peers = FilterModule().filters()['dicom_listener_gate_peers']
    text = gateconf.render(dict(SETTINGS, peers=peers(PACS, ['127.0.0.1'])))
    assert 'peer %s 4 0a010203 32' % 'HOSPITALPACS'.encode().hex() in text
    assert 'peer-name %s pacs2.example.org' % 'BACKUP'.encode().hex() in text
    assert 'peer * 4 7f000001 32' in text


def test_a_pacs_entry_without_its_host_fails_the_task():
    peers = FilterModule().filters()['dicom_listener_gate_peers']
    with pytest.raises(AnsibleFilterError, match='lacks'):
        peers([{'name': 'x', 'aetitle': 'X'}], [])
