# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: dicom_listener_package
short_description: The gateway-side Python package of the DICOM listener, as files to install
version_added: 0.2.0
description:
  - The collection's C(plugins/module_utils) (the filer, housekeeping, metrics, the checks of service
    files and the libraries they share with the C(dicom_listener_info) module), as the files of the
    package C(pacsgate_listener) under the directory given, each with its content, plus the package's
    C(__init__.py).
  - The dicom_listener role installs them with P(pacsgate.listener.dicom_listener_files#module) in one step.
author: pacsgate.listener maintainers (@pacsgate)
options:
  _terms:
    description: The directory the package's files go to (its C(site-packages/pacsgate_listener)).
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: The package's files for a virtualenv
  ansible.builtin.debug:
    msg: >-
      {{ query('pacsgate.listener.dicom_listener_package', '/opt/pypx/lib/python3.11/site-packages/pacsgate_listener')
         | map(attribute='dest') }}
"""

RETURN = r"""
_raw:
  description: One entry per file, C(dest) (its path) and C(content) (its text).
  type: list
  elements: dict
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'module_utils')
INIT = '''# Managed by Ansible (pacsgate.listener, role dicom_listener): local changes are overwritten.
"""The gateway-side Python of pacsgate.listener: the collection's plugins/module_utils, installed
once into pypx's virtualenv. Its helpers run as `<venv>/bin/python -I -m pacsgate_listener.<name>`
(filer, housekeeping, metrics, ownership; the xinetd and systemd checks)."""
'''


def package_files(directory, source=MODULE_UTILS):
    """[{dest, content}] of the package's files under directory, sorted by name."""
    if not os.path.isabs(directory):
        raise AnsibleLookupError('dicom_listener_package: %s is not an absolute path' % directory)
    entries = [{'dest': os.path.join(directory, '__init__.py'), 'content': INIT}]
    for name in sorted(os.listdir(source)):
        if name.endswith('.py') and name != '__init__.py':
            with open(os.path.join(source, name)) as handle:
                entries.append({'dest': os.path.join(directory, name), 'content': handle.read()})
    return entries


class LookupModule(LookupBase):
    """dicom_listener_package lookup."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        result = []
        for term in terms:
            result.extend(package_files(term))
        return result
