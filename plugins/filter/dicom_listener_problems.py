# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: dicom_listener_problems
short_description: Every problem with the variables of the dicom_listener role
version_added: 0.1.0
author: pacsgate.listener maintainers (@pacsgate)
description:
  - >-
    Validates every C(dicom_listener_*) variable of the role P(pacsgate.listener.dicom_listener#role) at once and
    returns the list of problems, empty when every value is good. The role's preflight fails with that list before
    anything on the host changes.
  - >-
    Whole values are checked in Python (C(re.fullmatch) and explicit comparisons), one validator per kind of value,
    shared with the module M(pacsgate.listener.dicom_listener_info). The kinds are AE titles, ports and other bounded
    integers (no booleans, decimal points, signs, spaces or C(_) separators), booleans, IPv4 and IPv6 addresses,
    networks in CIDR form, host names, absolute normalised paths of portable characters, the listener's directories
    (no system directory; distinct and not nested), the paths root writes (outside the listener's directories),
    user, group and service names, xinetd's options and log flags, systemd C(OnCalendar) values, pip settings, the
    pypx version, the directory mode, the PACS list and the TLS settings.
  - >-
    Also checks what relates variables (C(dicom_listener_user=root) without C(dicom_listener_allow_root),
    C(per_source) above C(instances), TLS files when TLS is on, host names with the systemd backend), and reports
    names that start with C(dicom_listener_) but are no variable of the role (a misspelling). The facts the role
    publishes (C(dicom_listener_host_ip), C(dicom_listener_info)) are ignored.
  - >-
    Each problem names the variable (with the list index or key for lists and dicts), shows the value escaped (a
    newline shows as C(\n)) and says what is allowed.
positional: _input
options:
  _input:
    description:
      - Every C(dicom_listener_*) variable and its value, templated, for example as the role's preflight gathers it
        with the P(ansible.builtin.varnames#lookup) and P(ansible.builtin.vars#lookup) lookups.
    type: dict
    required: true
seealso:
  - module: pacsgate.listener.dicom_listener_info
"""

EXAMPLES = r"""
- name: Validate every dicom_listener_* variable at once
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems }}"
    quiet: true
  vars:
    names: "{{ query('ansible.builtin.varnames', '^dicom_listener_') }}"
    problems: >-
      {{ dict(names | zip(query('ansible.builtin.vars', *names)))
         | pacsgate.listener.dicom_listener_problems }}

# {{ {'dicom_listener_user': 'root\n', ...} | pacsgate.listener.dicom_listener_problems }}
# => ['dicom_listener_user: "root\n" contains a newline (U+000A); allowed: a POSIX user or group name: ...']
"""

RETURN = r"""
_value:
  description:
    - One sentence per problem, in the order of the role's variables, then the problems that relate variables and the
      unknown names. Empty when every value is good.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.module_utils import validate


def dicom_listener_problems(variables):
    """The list of problems with a dict of the role's variables (empty when all are good)."""
    if not isinstance(variables, dict):
        raise AnsibleFilterError('dicom_listener_problems needs a dict of the dicom_listener_* variables, got %s'
                                 % type(variables).__name__)
    # Item by item, so that every value is read (and templated) through the mapping itself.
    return validate.role_problems(dict((name, variables[name]) for name in variables))


class FilterModule(object):
    """The validation filter of the dicom_listener role."""

    def filters(self):
        return {'dicom_listener_problems': dicom_listener_problems}
