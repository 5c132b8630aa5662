# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The role's derived values, computed by ansible-playbook on this machine from its defaults and
vars: who may connect (xinetd's only_from, the systemd backend's IPAddressAllow=, the gate's rules)
always includes the gateway itself, as its own C-ECHOs reach the listener."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess

import pytest

from test_unit_templates import ROLE_VALUES, ansible_playbook, collection_path  # pylint: disable=import-error

PLAYBOOK = """\
- name: Compute the role's derived values
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_facts: {service_mgr: systemd}
  tasks:
""" + ROLE_VALUES + """\
    - name: Show them
      ansible.builtin.debug:
        msg: "{{ {'only_from': _dicom_listener_only_from, 'verify_host': _dicom_listener_verify_host,
                  'peers': _dicom_listener_gate_settings.peers} | to_json }}"
"""


def derived(tmp_path, **extra):
    collections = collection_path(tmp_path)
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_STDOUT_CALLBACK='json',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_CONFIG=str(tmp_path / 'none.cfg'))
    result = subprocess.run([ansible_playbook(), '-i', 'localhost,', str(tmp_path / 'playbook.yml'),
                             '-e', json.dumps(extra)], env=env, cwd=str(tmp_path), capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    task = json.loads(result.stdout)['plays'][0]['tasks'][-1]
    return json.loads(task['hosts']['localhost']['msg'])


PACS = [{'name': 'pacs', 'aetitle': 'PACS1', 'host': '10.1.2.3', 'port': 104}]


@pytest.mark.parametrize('bind, verify, only_from', [
    ('0.0.0.0', '127.0.0.1', ['127.0.0.1', '10.1.2.3']),
    ('192.0.2.2', '192.0.2.2', ['127.0.0.1', '192.0.2.2', '10.1.2.3']),
    ('::', '::1', ['127.0.0.1', '::1', '10.1.2.3']),
])
def test_the_gateway_itself_may_always_connect(tmp_path, bind, verify, only_from):
    """Bound to one address, the gateway's C-ECHO to itself comes from that address: it must be let
    in by xinetd (or systemd) and by the gate, with any calling AE title."""
    values = derived(tmp_path, dicom_listener_bind_address=bind, dicom_listener_pacs=PACS)
    assert values['verify_host'] == verify
    assert values['only_from'] == only_from
    assert {'aetitle': None, 'source': verify} in values['peers']
    assert {'aetitle': 'PACS1', 'source': '10.1.2.3'} in values['peers']
