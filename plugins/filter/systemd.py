# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: dicom_listener_systemd_escape
short_description: Write a value into a systemd unit file so that systemd reads it back unchanged
version_added: 0.2.0
description:
  - Escapes systemd's specifiers (C(%) becomes C(%%)) and variable expansion (C($) becomes C($$)),
    and quotes a value holding whitespace, quotes or backslashes, so that one word of an
    C(ExecStart=) line, a path of C(ReadWritePaths=) or a C(OnCalendar=) value means exactly itself.
  - The role validates its values before they get here; this filter makes sure nothing in a unit file
    is ever interpreted by systemd.
author: pacsgate.listener maintainers (@pacsgate)
options:
  _input:
    description: The value.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: One word of a unit's command line
  ansible.builtin.debug:
    msg: >-
      ExecStart={{ ['/opt/pypx/bin/python', '-m', 'x']
                   | map('pacsgate.listener.dicom_listener_systemd_escape') | join(' ') }}
"""

RETURN = r"""
_value:
  description: The escaped value.
  type: str
"""

from ansible.errors import AnsibleFilterError

SPECIAL = ('"', "'", '\\')


def systemd_escape(value):
    """The value as systemd reads one word of a unit file back unchanged."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise AnsibleFilterError('dicom_listener_systemd_escape needs a string, not %r' % (value,))
    text = str(value)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise AnsibleFilterError('dicom_listener_systemd_escape: %r holds a control character' % (text,))
    text = text.replace('%', '%%').replace('$', '$$')
    if text == '' or any(char.isspace() or char in SPECIAL for char in text):
        text = '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')
    return text


class FilterModule(object):
    """Filters for systemd unit files."""

    def filters(self):
        return {'dicom_listener_systemd_escape': systemd_escape}
