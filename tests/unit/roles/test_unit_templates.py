# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The role's systemd units, rendered by ansible-playbook on this machine with the role's defaults
and vars (connection local, into a temporary directory): each ExecStart= must be the argument
vector the role means, word for word as systemd splits it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
import shutil
import subprocess
import sys

import pytest

REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))
ROLE = os.path.join(REPO, 'roles', 'dicom_listener')
# The first tasks of a play that needs the role's values: its defaults, then its vars.
ROLE_VALUES = """\
    - name: The role's defaults
      ansible.builtin.include_vars:
        file: %s/defaults/main.yml
    - name: The role's vars
      ansible.builtin.include_vars:
        file: %s/vars/main.yml
""" % (ROLE, ROLE)
PLAYBOOK = """\
- name: Render the role's units with its defaults and vars
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
""" + ROLE_VALUES + """\
    - name: Render
      ansible.builtin.template:
        src: "{{ item }}.j2"
        dest: "%(out)s/{{ item | basename }}"
        mode: "0644"
      loop: %(units)s
"""
UNITS = ['systemd/listener@.service', 'services/filer.service', 'services/housekeeping.service']


def collection_path(tmp_path):
    """A collections path under tmp_path where pacsgate.listener is this repository."""
    collections = tmp_path / 'collections'
    (collections / 'ansible_collections' / 'pacsgate').mkdir(parents=True)
    os.symlink(REPO, str(collections / 'ansible_collections' / 'pacsgate' / 'listener'))
    return collections


def ansible_playbook():
    beside = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    found = beside if os.access(beside, os.X_OK) else shutil.which('ansible-playbook')
    assert found, 'ansible-playbook is not installed beside %s nor on PATH' % sys.executable
    return found


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('units')
    collections = collection_path(tmp_path)
    # Templates are found (and include each other) relative to the playbook's templates dir.
    os.symlink(os.path.join(ROLE, 'templates'), str(tmp_path / 'templates'))
    out = tmp_path / 'out'
    out.mkdir()
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK % {'out': out, 'units': UNITS})
    (tmp_path / 'inventory').write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    (tmp_path / 'ansible.cfg').write_text('[defaults]\n')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'))
    result = subprocess.run([ansible_playbook(), '-i', str(tmp_path / 'inventory'), str(tmp_path / 'playbook.yml')],
                            env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return dict((os.path.basename(unit), (out / os.path.basename(unit)).read_text()) for unit in UNITS)


def exec_start(text):
    """ExecStart='s words as systemd splits them (shell-like quoting, no shell)."""
    (line,) = [line for line in text.splitlines() if line.startswith('ExecStart=')]
    return shlex.split(line[len('ExecStart='):])


def test_association_unit_runs_the_gate_with_its_rules(rendered):
    # perl, the gate script and its rules: three words (one word "gate rules" is no script perl can open).
    assert exec_start(rendered['listener@.service']) == [
        '/usr/bin/perl', '/usr/local/libexec/pacsgate/pacsgate-gate', '/etc/pacsgate/dicomlistener.gate']


@pytest.mark.parametrize('unit,module', [('filer.service', 'filer'), ('housekeeping.service', 'housekeeping')])
def test_helper_units_run_their_module(rendered, unit, module):
    assert exec_start(rendered[unit]) == ['/opt/pypx/bin/python', '-I', '-m', 'pacsgate_listener.' + module,
                                          '--config', '/etc/pacsgate/dicomlistener.json']
