# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The role's preflight, run by ansible-playbook against this machine (connection local, check mode).

With bad values and the tags of a pfdcm action, the run must fail in the validation task (the first
task after Ansible's own argument-spec check) with a message naming every bad variable, and no other
task may run. With the defaults the validation task passes; only tags that select no task of the role
are given then, so that nothing but the read-only preflight runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))
PLAYBOOK = """\
- name: The role's preflight on this machine
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: pacsgate.listener.dicom_listener
"""
ARGSPEC_TASK = "Validating arguments against arg spec 'main'"
VALIDATE_TASK = "Validate the role's variables"
FAILED = re.compile(r'^fatal: \[localhost\]: FAILED! => (\{.*\})$', re.M)


def ansible_playbook():
    """ansible-playbook beside this Python (the harness' virtualenv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    found = beside if os.access(beside, os.X_OK) else shutil.which('ansible-playbook')
    assert found, 'ansible-playbook is not installed beside %s nor on PATH' % sys.executable
    return found


@pytest.fixture
def run(tmp_path):
    collections = tmp_path / 'collections'
    (collections / 'ansible_collections' / 'pacsgate').mkdir(parents=True)
    os.symlink(REPO, str(collections / 'ansible_collections' / 'pacsgate' / 'listener'))
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    (tmp_path / 'inventory').write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n'
                                        % sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_STDOUT_CALLBACK='default', ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_RETRY_FILES_ENABLED='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'))
    (tmp_path / 'ansible.cfg').write_text('[defaults]\n')

    def playbook(*args):
        result = subprocess.run([ansible_playbook(), '-i', str(tmp_path / 'inventory'), str(tmp_path / 'playbook.yml'),
                                 '--check'] + list(args), env=env, cwd=str(tmp_path), capture_output=True,
                                text=True, timeout=300, check=False)
        out = result.stdout + result.stderr
        tasks = re.findall(r'^TASK \[pacsgate\.listener\.dicom_listener : (.*?)\] \**$', out, re.M)
        return result.returncode, out, tasks
    return playbook


def recap(out):
    match = re.search(r'^localhost\s+: (.*)$', out, re.M)
    assert match, out[-3000:]
    return dict((key, int(value)) for key, value in re.findall(r'(\w+)=(\d+)', match.group(1)))


BAD = {
    'dicom_listener_user': 'root\n',
    'dicom_listener_xinetd_opts': ['-stayalive', '-limit 5\nINETD_COMPAT=Yes'],
    'dicom_listener_tmp_dir': '/tmp',
    'dicom_listener_housekeeping_schedule': 'hourly\nExecStart=/bin/sh',
    'dicom_listener_bind_address': '0.0.0.0\nonly_from = 0.0.0.0/0',
    'dicom_listener_aetitle': 'CHRISLOCAL\n',
    'dicom_listener_pip_index_url': 'https://pypi.example.org/simple\nindex-url = http://evil',
    'dicom_listener_venv_dir': '/home/dicom/venv',
    'dicom_listener_allowed_sources': ['fe80::1%eth0', '10.0.0.1/8'],
}


def test_bad_values_fail_in_preflight_before_any_other_task(run, capsys):
    rc, out, tasks = run('--tags', 'file_install', '-e', json.dumps(BAD))
    assert rc != 0, out[-3000:]
    assert tasks == [ARGSPEC_TASK + " - DICOM listener for a PACS gateway (xinetd, pypx px-listen, dcmtk storescp)",
                     VALIDATE_TASK], out[-3000:]
    failure = json.loads(FAILED.search(out).group(1))
    problems = failure['msg']
    named = [name for name in BAD if any(p.startswith(name) for p in problems)]
    with capsys.disabled():
        print('\npreflight (ansible-playbook --check --tags file_install): %d bad variables given, %d named in the '
              'one failed task, %d tasks run' % (len(BAD), len(named), len(tasks)))
    assert named == list(BAD), problems
    assert 'dicom_listener_allowed_sources[1]' in ' '.join(problems)
    assert len(problems) == len(BAD) + 1, problems
    assert recap(out) == dict(ok=1, changed=0, unreachable=0, failed=1, skipped=0, rescued=0, ignored=0)


@pytest.mark.parametrize('tags,extra,name', [
    ('service_mkdirs', 'dicom_listener_port=10_402', 'dicom_listener_port'),
    ('service_restart', '{"dicom_listener_base_dir": "/home"}', 'dicom_listener_base_dir'),
    ('file_create', '{"dicom_listener_aetitel": "CHRISLOCAL"}', 'dicom_listener_aetitel'),
])
def test_one_bad_value_names_its_variable(run, tags, extra, name):
    rc, out, tasks = run('--tags', tags, '-e', extra)
    assert rc != 0 and tasks[-1] == VALIDATE_TASK and len(tasks) == 2, out[-3000:]
    problems = json.loads(FAILED.search(out).group(1))['msg']
    assert len(problems) == 1 and problems[0].startswith(name), problems


def test_the_defaults_pass_the_validation(run, tmp_path):
    # No task of the role has this tag: only the preflight (tagged always) runs, in check mode, and
    # the port check reads an empty xinetd directory of the test's own.
    (tmp_path / 'xinetd.d').mkdir()
    _rc, out, tasks = run('--tags', 'pacsgate_test_selects_no_task', '-e',
                          json.dumps({'dicom_listener_xinetd_dir': str(tmp_path / 'xinetd.d')}))
    assert tasks[:3] == [ARGSPEC_TASK + " - DICOM listener for a PACS gateway (xinetd, pypx px-listen, dcmtk storescp)",
                         VALIDATE_TASK, 'Gather the facts the role needs'], out[-3000:]
    assert 'ok: [localhost]' in out.split('TASK [pacsgate.listener.dicom_listener : %s]' % VALIDATE_TASK)[1].split('TASK')[0]
    assert recap(out)['changed'] == 0
