#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dicom_listener_info
short_description: Report the state of a PACS gateway's DICOM listener, its filer and its received data
version_added: 0.1.0
description:
  - Reads the gateway and changes nothing. Everything it needs (backend, receiver, AE title, port, directories,
    the PACS list, TLS) comes from the helpers' settings C(/etc/pacsgate/<service_name>.json) the role writes.
  - Reports the address a PACS must send to (never a docker, bridge, veth or loopback address), the listener
    (xinetd or the systemd socket) and the filer, px-listen in px-listen mode, the TLS certificate's expiry, the
    health of the received data and free space, the problems found and a one-line summary.
  - With O(echo=true) sends a C-ECHO to the listener; with O(pacs_echo=true) one to each PACS of the settings,
    with the gateway's own AE title as calling AE title. Both over TLS when the listener speaks TLS.
  - Counts and ages only, never patient data, unless O(show_paths=true).
author:
  - pacsgate.listener maintainers (@pacsgate)
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  service_name:
    description: Name of the listener (its xinetd service, or its socket unit without C(.socket)).
    type: str
    default: dicomlistener
  config:
    description: The helpers' settings file; defaults to C(/etc/pacsgate/<service_name>.json).
    type: path
  backend:
    description: Overrides the settings' C(backend); without either, the socket unit's presence decides.
    type: str
    choices: [xinetd, systemd]
  xinetd_dir:
    description: Directory xinetd reads service files from.
    type: path
    default: /etc/xinetd.d
  xinetd_conf:
    description: xinetd's main configuration file, whose C(defaults) the service inherits.
    type: path
    default: /etc/xinetd.conf
  unit_dir:
    description: Directory of the listener's systemd units.
    type: path
    default: /etc/systemd/system
  echo:
    description: Send a C-ECHO to the listener and report it under RV(echo).
    type: bool
    default: false
  pacs_echo:
    description: Send a C-ECHO to each PACS of the settings and report them under RV(pacs_echo).
    type: bool
    default: false
  aetitle:
    description: Overrides the settings' C(aetitle), the listener's AE title (the called AE title of its C-ECHO).
    type: str
  calling_aetitle:
    description: Calling AE title of the C-ECHO to the listener; defaults to the settings' C(verify_calling_aetitle).
    type: str
  host:
    description: Address the C-ECHO to the listener connects to; defaults to the settings' C(verify_host).
    type: str
  timeout:
    description: Seconds allowed for each C-ECHO step (connection, association, response).
    type: int
    default: 10
  health:
    description: Read the tmp tree and the statistics for RV(health). It never reads the data dir.
    type: bool
    default: true
  show_paths:
    description: Add the listener's directories and the paths of waiting, stranded and quarantined associations.
      Their names may identify patients.
    type: bool
    default: false
  min_free_percent:
    description: Free space of the tmp or data file system below this percentage is a C(disk) problem.
    type: int
    default: 10
notes:
  - Runs as root over directories the listener can write; it follows no symlink there and never walks the data dir.
  - Needs C(ip) from iproute2 for RV(host_ips), and dcmtk's C(echoscu) for the C-ECHOs.
seealso:
  - name: The status playbook
    description: pacsgate.listener.status prints this for every gateway, as a table, and sets exit codes.
    link: https://github.com/pacsgate/listener/blob/main/docs/operations.md
"""

EXAMPLES = r"""
- name: Read the listener and send it and every PACS a C-ECHO
  pacsgate.listener.dicom_listener_info:
    echo: true
    pacs_echo: true
  register: listener

- name: Fail on anything an operator must act on
  ansible.builtin.assert:
    that: listener.problems | length == 0
    fail_msg: "{{ listener.summary }}"
"""

RETURN = r"""
host_ip:
  description: The address a PACS sends to (source address of the default route unless virtual), or null.
  returned: always
  type: str
  sample: 192.168.10.20
host_ip_reason:
  description: How RV(host_ip) was chosen.
  returned: always
  type: str
host_ips:
  description: Every address of global scope, with its interface.
  returned: always
  type: list
  elements: dict
backend:
  description: C(xinetd) or C(systemd).
  returned: always
  type: str
receiver:
  description: C(filer) or C(px-listen); null without settings.
  returned: always
  type: str
aetitle:
  description: The listener's AE title, from the settings; null without them.
  returned: always
  type: str
port:
  description: The listener's port, from the settings (or the service definition).
  returned: always
  type: int
listener:
  description:
    - What starts the listener (C(manager) xinetd or the socket unit) and whether it is C(installed), C(running),
      C(enabled); the service definition (C(found), C(definition), C(error), C(disable), C(bind)); C(listening) and
      C(listening_addresses) of the port; with systemd C(state), C(result), C(connections).
  returned: always
  type: dict
  sample: {manager: xinetd, installed: true, running: true, enabled: true, found: true, disable: false,
           listening: true, port: 10402}
filer:
  description: The filer service C(unit), whether C(running) and C(enabled).
  returned: when the settings were read
  type: dict
px_listen:
  description: The px-listen the gate starts, C(link), C(target) and C(version); each null when unknown.
  returned: in px-listen mode
  type: dict
echo:
  description: The C-ECHO to the listener, C(ok), C(rtt_ms) and echoscu's C(message).
  returned: when O(echo=true)
  type: dict
  sample: {ok: true, rtt_ms: 12.3, message: answered with Success}
pacs_echo:
  description: A C-ECHO per PACS, C(name), C(aetitle), C(host), C(port), C(ok), C(rtt_ms), C(message), C(line).
  returned: when O(pacs_echo=true)
  type: list
  elements: dict
tls:
  description: C(enabled), the certificate's C(not_after) (ISO 8601, UTC; C(not_after_ts) in unix time),
    C(days_left), C(error).
  returned: always
  type: dict
health:
  description:
    - From the tmp tree and the filer's statistics; counts and ages (seconds) only.
    - C(receiving), C(queued), C(stranded) (waiting longer than C(stranded_after)), C(oldest_pending_age),
      C(quarantined_instances), C(quarantined_associations), C(quarantine_reasons) (by error class), C(refuse)
      and C(refuse_reason); C(last_association_at) and C(last_association_age), C(last_filed_at), C(received_today),
      C(instances_filed), C(instances_quarantined_total), C(instances_replaced), C(instances_superseded),
      C(associations_accepted), C(associations_refused) (by reason), C(associations_checks)
      (the gateway's own C-ECHOs), C(filer_updated_age), C(disk) (C(tmp) and C(data) with C(free_bytes),
      C(total_bytes), C(free_percent)), C(problems), C(complete).
    - With O(show_paths=true) also C(dirs) and C(paths).
  returned: when O(health=true) and the settings were read
  type: dict
problems:
  description: The conditions to act on, each C(condition) (listener, echo, pacs_echo, stranded, quarantined, disk,
    tls) and C(message).
  returned: always
  type: list
  elements: dict
  sample: [{condition: stranded, message: 1 association(s) received and not filed for over 5 min (oldest 12 min)}]
summary:
  description: One line a PACS admin can act on.
  returned: always
  type: str
  sample: "Send to AE title CHRISLOCAL at 192.168.10.20:10402: the listener answers C-ECHO (12 ms);
    last association 3 min ago, 120 instance(s) today"
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pacsgate.listener.plugins.module_utils import listener_state
from ansible_collections.pacsgate.listener.plugins.module_utils import records
from ansible_collections.pacsgate.listener.plugins.module_utils import validate

DEFAULT_CALLING_AETITLE = 'PACSGATE-CHECK'


def parameter_problems(params):
    """The problems with the options, from the validators the role uses too."""
    problems = validate.service_name(params['service_name'], 'service_name')
    for key in ('aetitle', 'calling_aetitle'):
        if params[key] is not None:
            problems += validate.aetitle(params[key], key)
    if params['host'] is not None:
        problems += validate.host(params['host'], 'host')
    problems += validate.integer(params['timeout'], 'timeout', 1, 3600, ' seconds')
    problems += validate.integer(params['min_free_percent'], 'min_free_percent', 0, 100, ' %')
    return problems


def read_settings(path):
    """(settings or None, why not)."""
    try:
        return records.load_config(path), None
    except (IOError, OSError) as exc:
        return None, 'cannot read %s (%s)' % (path, records.errname(exc))
    except ValueError as exc:
        return None, '%s: %s' % (path, exc)


def gather(module, params, now):
    """Everything the module reports, without problems and summary."""
    def run(argv):
        return module.run_command(argv)

    def which(name):
        # dcmtk's echoscu, not one a Python virtualenv on PATH may have (pynetdicom ships one).
        return module.get_bin_path(name, opt_dirs=listener_state.SYSTEM_BIN_DIRS)

    config = params['config'] or '/etc/pacsgate/%s.json' % params['service_name']
    settings, settings_error = read_settings(config)
    if settings is not None and params['aetitle'] is not None:
        settings['aetitle'] = params['aetitle']
    known = settings or {}
    host_ip, reason, host_ips = listener_state.network(run, which)
    lst = listener_state.listener(run, which, params['backend'] or known.get('backend'), params['service_name'],
                                  params['xinetd_dir'], params['xinetd_conf'], params['unit_dir'], known.get('port'))
    result = dict(changed=False, host_ip=host_ip, host_ip_reason=reason, host_ips=host_ips, backend=lst['backend'],
                  receiver=known.get('receiver'), aetitle=known.get('aetitle'), port=lst['port'], listener=lst,
                  settings_error=settings_error, tls=listener_state.tls_state(known.get('tls'), now))
    if settings is None:
        return result
    result['filer'] = listener_state.filer(run, which, params['service_name'], config)
    if settings['receiver'] == 'px-listen':
        gate = lst['gate_config'] or os.path.splitext(config)[0] + '.gate'
        result['px_listen'] = listener_state.px_listen(run, listener_state.gate_argv(gate))
    echoscu = which('echoscu')
    if params['echo']:
        calling = params['calling_aetitle'] or settings['verify_calling_aetitle'] or DEFAULT_CALLING_AETITLE
        result['echo'] = listener_state.listener_echo(run, echoscu, settings, calling, params['host'],
                                                      params['timeout'])
    if params['pacs_echo']:
        result['pacs_echo'] = listener_state.pacs_echoes(run, echoscu, settings, params['timeout'])
    if params['health']:
        result['health'] = listener_state.health(settings, now, with_paths=params['show_paths'])
        result['min_free_mb'] = settings['min_free_mb']
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service_name=dict(type='str', default='dicomlistener'),
            config=dict(type='path'),
            backend=dict(type='str', choices=['xinetd', 'systemd']),
            xinetd_dir=dict(type='path', default='/etc/xinetd.d'),
            xinetd_conf=dict(type='path', default='/etc/xinetd.conf'),
            unit_dir=dict(type='path', default='/etc/systemd/system'),
            echo=dict(type='bool', default=False),
            pacs_echo=dict(type='bool', default=False),
            aetitle=dict(type='str'),
            calling_aetitle=dict(type='str'),
            host=dict(type='str'),
            timeout=dict(type='int', default=10),
            health=dict(type='bool', default=True),
            show_paths=dict(type='bool', default=False),
            min_free_percent=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    problems = parameter_problems(module.params)
    if problems:
        module.fail_json(msg='; '.join(problems), problems=problems)
    result = gather(module, module.params, time.time())
    result['problems'] = listener_state.problems(result, module.params['min_free_percent'],
                                                 result.pop('min_free_mb', 0))
    result.pop('settings_error')
    result['summary'] = listener_state.summary(result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
