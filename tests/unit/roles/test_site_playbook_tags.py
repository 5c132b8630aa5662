# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The site playbook run with --tags, as pfdcm's actions run it (connection local, check mode, this
machine in pacs_gateways): the facts its plays need (who Ansible connects as, for become) must be
read whatever the tags, so that the run reaches the role's preflight and passes it."""

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
VALIDATE_TASK = "TASK [pacsgate.listener.dicom_listener : Validate the role's variables]"


def ansible_playbook():
    beside = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    found = beside if os.access(beside, os.X_OK) else shutil.which('ansible-playbook')
    assert found, 'ansible-playbook is not installed beside %s nor on PATH' % sys.executable
    return found


@pytest.mark.parametrize('tag', ['service_restart', 'file_install', 'pacsgate_test_selects_no_task'])
def test_site_playbook_with_tags_reaches_the_role(tmp_path, tag):
    collections = tmp_path / 'collections'
    (collections / 'ansible_collections' / 'pacsgate').mkdir(parents=True)
    os.symlink(REPO, str(collections / 'ansible_collections' / 'pacsgate' / 'listener'))
    (tmp_path / 'inventory').write_text('[pacs_gateways]\nlocalhost ansible_connection=local ansible_python_interpreter=%s\n'
                                        % sys.executable)
    (tmp_path / 'ansible.cfg').write_text('[defaults]\n')
    (tmp_path / 'xinetd.d').mkdir()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'))
    # A bad value (which Ansible's argument spec lets through): the role's validation stops the run
    # before anything would be changed.
    extra = json.dumps({'dicom_listener_xinetd_dir': str(tmp_path / 'xinetd.d')})
    result = subprocess.run([ansible_playbook(), '-i', str(tmp_path / 'inventory'), 'pacsgate.listener.site', '--check',
                             '--tags', tag, '-e', extra, '-e', 'dicom_listener_port=10_402'], env=env, cwd=str(tmp_path), capture_output=True, text=True,
                            timeout=300, check=False)
    out = result.stdout + result.stderr
    assert "has no attribute 'user_id'" not in out, out[-3000:]
    # The run got to the role and failed where it must: the validation of the bad port.
    assert VALIDATE_TASK in out and re.search(r'dicom_listener_port', out.split(VALIDATE_TASK)[1]), out[-3000:]
