# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter pacsgate.listener.dicom_listener_gate_config: the text of a pacsgate-gate
configuration file. Its documentation is plugins/filter/dicom_listener_gate_config.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.module_utils.gateconf import peers_of, render


def dicom_listener_gate_config(config):
    """Render CONFIG (a dict, see module_utils/gateconf.py) as pacsgate-gate configuration text."""
    try:
        return render(config)
    except ValueError as exc:
        raise AnsibleFilterError('dicom_listener_gate_config: %s' % exc)


def dicom_listener_gate_peers(pacs, allowed_sources, calling_aetitle_check=True):
    """The gate's peer rules (see module_utils/gateconf.py peers_of) from dicom_listener_pacs, the
    sources that may send with any calling AE title, and whether calling AE titles are checked."""
    try:
        return peers_of(pacs, allowed_sources, calling_aetitle_check)
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError('dicom_listener_gate_peers: a PACS entry lacks %s' % exc)


class FilterModule(object):
    """pacsgate-gate configuration filter."""

    def filters(self):
        return {
            'dicom_listener_gate_config': dicom_listener_gate_config,
            'dicom_listener_gate_peers': dicom_listener_gate_peers,
        }
