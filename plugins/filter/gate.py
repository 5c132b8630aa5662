# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter pacsgate.listener.dicom_listener_gate_config: the text of a pacsgate-gate
configuration file. Its documentation is plugins/filter/dicom_listener_gate_config.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.module_utils.gateconf import render


def dicom_listener_gate_config(config):
    """Render CONFIG (a dict, see module_utils/gateconf.py) as pacsgate-gate configuration text."""
    try:
        return render(config)
    except ValueError as exc:
        raise AnsibleFilterError('dicom_listener_gate_config: %s' % exc)


class FilterModule(object):
    """pacsgate-gate configuration filter."""

    def filters(self):
        return {
            'dicom_listener_gate_config': dicom_listener_gate_config,
        }
