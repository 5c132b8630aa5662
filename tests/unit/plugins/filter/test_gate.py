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
