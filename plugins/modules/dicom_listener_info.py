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
short_description: Report a PACS gateway's address and the real state of its DICOM listener
version_added: 0.1.0
description:
  - Reads the gateway and changes nothing. Reports C(host_ip), the address a PACS must send to (the source
    address of the default route, never a docker, bridge, veth or loopback address), every global address,
    whether xinetd is installed, running and enabled, the parsed xinetd service, whether its port listens,
    the C(px-listen) link and version, and the health of the received data.
  - With O(echo=true) sends a DICOM C-ECHO to the listener; with O(pacs_echo=true) sends one to each
    remote PACS in O(pacs). Both use dcmtk's C(echoscu).
  - Replaces pfdcm's C(HOST_IP) recipe (C(ip route | grep -v docker | awk ...)) and its "initialized or
    not" listener status.
author:
  - pacsgate.listener maintainers (@pacsgate)
extends_documentation_fragment: []
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
options:
  backend:
    description:
      - How the listener is started, as the role variable C(dicom_listener_backend).
      - C(xinetd) reads the xinetd service file; C(systemd) reads the socket unit C(<service_name>.socket)
        and the templated C(<service_name>@.service) under O(unit_dir) and reports the socket unit's state
        under RV(socket).
    type: str
    choices: [xinetd, systemd]
    default: xinetd
  service_name:
    description:
      - Name of the xinetd service of the listener (its file under O(xinetd_dir)), or with O(backend=systemd)
        the name of its socket unit without C(.socket).
    type: str
    default: dicomlistener
  unit_dir:
    description: Directory of the listener's systemd units (O(backend=systemd)).
    type: path
    default: /etc/systemd/system
  xinetd_dir:
    description: Directory xinetd reads service files from.
    type: path
    default: /etc/xinetd.d
  xinetd_conf:
    description: xinetd's main configuration file, whose C(defaults) block the service inherits from.
    type: path
    default: /etc/xinetd.conf
  aetitle:
    description:
      - The listener's AE title, the called AE title of the C-ECHO and the one the summary names.
      - When omitted, read from the storescp wrapper the service passes to C(px-listen -e).
    type: str
  calling_aetitle:
    description: Calling AE title of every C-ECHO this module sends.
    type: str
    default: PACSGATE-CHECK
  host:
    description:
      - Address the C-ECHO to the listener connects to.
      - Defaults to the service's C(bind) address, or loopback when it binds every address.
    type: str
  echo:
    description: Send a DICOM C-ECHO to the listener and report the result under RV(echo).
    type: bool
    default: false
  pacs_echo:
    description: Send a DICOM C-ECHO to each remote PACS in O(pacs) and report the results under RV(pacs_echo).
    type: bool
    default: false
  pacs:
    description: Remote PACS, as in the role variable C(dicom_listener_pacs).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Short name of the PACS.
        type: str
        required: true
      aetitle:
        description: AE title of the PACS.
        type: str
        required: true
      host:
        description: Address or host name of the PACS.
        type: str
        required: true
      port:
        description: DICOM port of the PACS.
        type: int
        required: true
  timeout:
    description: Seconds allowed for each C-ECHO step (connection, association, response).
    type: int
    default: 10
  tmp_dir:
    description: The listener's tmp dir; defaults to the C(-t) argument in the service's C(server_args).
    type: path
  log_dir:
    description: The listener's log dir; defaults to the C(-l) argument in the service's C(server_args).
    type: path
  data_dir:
    description: The listener's data dir; defaults to the C(-d) argument in the service's C(server_args).
    type: path
  stranded_age:
    description:
      - Seconds an association dir or a C(receiving.series) marker must be left untouched before it counts as
        stranded; younger ones may still be in transfer.
    type: int
    default: 300
  health:
    description: Scan the tmp, log and data dirs for RV(health). Set to false on very large archives to skip the scan.
    type: bool
    default: true
notes:
  - Needs C(ip) from iproute2 for RV(host_ips); without it RV(host_ip) comes from the kernel's choice of source
    address and RV(host_ips) is empty.
  - The port check reads the kernel's socket table and opens no connection, so it starts no C(px-listen).
seealso:
  - name: pfdcm controlling the listener service
    description: The manual procedure this module and the dicom_listener role replace.
    link: https://github.com/FNNDSC/pfdcm/wiki
"""

EXAMPLES = r"""
- name: Read the listener's state and the address a PACS must use
  pacsgate.listener.dicom_listener_info:
  register: listener

- name: Tell the PACS admin where to send
  ansible.builtin.debug:
    msg: "{{ listener.summary }}"

- name: Check the listener and every PACS answer DICOM
  pacsgate.listener.dicom_listener_info:
    echo: true
    pacs_echo: true
    pacs:
      - {name: main-pacs, aetitle: HOSPITALPACS, host: 10.1.2.3, port: 104}
  register: listener

- name: Fail when data was received but never filed
  ansible.builtin.assert:
    that:
      - listener.health.stranded_associations == 0
      - listener.health.error_logs == 0
"""

RETURN = r"""
host_ip:
  description:
    - The address a PACS should send to, the source address of the default route unless that route leaves
      through a virtual interface (docker, bridge, veth, loopback); then the first global address of a
      physical interface. Null when the host has none.
  returned: always
  type: str
  sample: 192.168.10.20
host_ip_reason:
  description: How RV(host_ip) was chosen.
  returned: always
  type: str
  sample: source address of the default route (eth0)
host_ips:
  description: Every address of global scope, with its interface.
  returned: always
  type: list
  elements: dict
  sample: [{interface: eth0, address: 192.168.10.20, prefix: 24, family: ipv4, scope: global}]
xinetd:
  description: The xinetd daemon.
  returned: always
  type: dict
  contains:
    installed:
      description: Whether the xinetd binary exists.
      type: bool
    running:
      description: Whether an xinetd process runs.
      type: bool
    pid:
      description: Its process id, or null.
      type: int
    enabled:
      description: Whether xinetd starts at boot (systemd, or SysV rc links). Null when it cannot be told.
      type: bool
  sample: {installed: true, running: true, pid: 412, enabled: true}
socket:
  description: The listener's socket unit (O(backend=systemd)), as C(systemctl show) reports it.
  returned: when O(backend=systemd)
  type: dict
  contains:
    unit:
      description: The unit's name.
      type: str
    loaded:
      description: Whether systemd has loaded the unit.
      type: bool
    active:
      description: Whether the unit is active.
      type: bool
    state:
      description: systemd's ActiveState.
      type: str
    sub_state:
      description: systemd's SubState, C(listening) when it accepts associations.
      type: str
    listening:
      description: Whether the unit is in the C(listening) state.
      type: bool
    enabled:
      description: Whether it starts at boot; null when systemd reports no unit file state.
      type: bool
    result:
      description: Result of the unit's last run (C(trigger-limit-hit) after a connection burst).
      type: str
    accepted:
      description: Associations accepted since the socket started.
      type: int
    connections:
      description: Associations in progress now.
      type: int
    refused:
      description: Connections refused by MaxConnections or MaxConnectionsPerSource.
      type: int
    listen:
      description: What the socket listens on.
      type: list
      elements: str
    error:
      description: Why systemd could not be asked, or null.
      type: str
  sample: {unit: dicomlistener.socket, loaded: true, active: true, state: active, sub_state: listening,
           listening: true, enabled: true, result: success, accepted: 12, connections: 1, refused: 0,
           listen: ["0.0.0.0:10402 (Stream)"]}
service:
  description:
    - The listener's xinetd service file, parsed; the effective attributes include inherited defaults.
    - With O(backend=systemd), the same keys read from the socket unit (C(port), C(bind), C(only_from) from
      C(IPAddressAllow=), C(instances), C(per_source)) and the service unit (C(server), C(server_args) from
      C(ExecStart=), C(user), C(group), C(env)); C(path) is the socket unit's, C(service_path) the service's.
  returned: always
  type: dict
  contains:
    path:
      description: Path of the service file.
      type: str
    exists:
      description: Whether the file exists.
      type: bool
    found:
      description: Whether the file holds a service of that name.
      type: bool
    error:
      description: Why the file could not be read or parsed, or null.
      type: str
    port:
      description: The service's port.
      type: int
    bind:
      description: The bind address.
      type: str
    server:
      description: The program xinetd starts per connection.
      type: str
    server_args:
      description: Its arguments.
      type: str
    user:
      description: The user it runs as.
      type: str
    disable:
      description: Whether the service is disabled.
      type: bool
    only_from:
      description: Addresses allowed to connect (empty means everyone unless defaults restrict).
      type: list
      elements: str
    env:
      description: Environment given to the server.
      type: dict
    attributes:
      description: Every effective attribute with its values.
      type: dict
  sample: {path: /etc/xinetd.d/dicomlistener, exists: true, found: true, port: 10402, bind: 0.0.0.0,
           server: /usr/local/bin/px-listen, user: dicom, disable: false, only_from: [], env: {TCP_NODELAY: "1"}}
listening:
  description: Whether a TCP socket listens on the service's port.
  returned: always
  type: bool
  sample: true
listening_addresses:
  description: Local addresses listening on that port.
  returned: always
  type: list
  elements: str
  sample: [0.0.0.0]
aetitle:
  description: The listener's AE title, as given or read from the storescp wrapper; null when unknown.
  returned: always
  type: str
  sample: CHRISLOCAL
px_listen:
  description: The px-listen program the service starts.
  returned: always
  type: dict
  contains:
    link:
      description: >-
        The px-listen xinetd starts, or with the lean launcher the virtualenv's px-listen the launcher
        runs.
      type: str
    launcher:
      description: >-
        The lean launcher xinetd starts px-listen through (C(.../px_listen_lean.py), whose first line
        names the virtualenv's Python), or null when xinetd starts px-listen itself.
      type: str
    is_link:
      description: Whether it is a symbolic link.
      type: bool
    target:
      description: Where it resolves to, or null when it does not exist.
      type: str
    exists:
      description: Whether the resolved program exists.
      type: bool
    running:
      description: Number of px-listen processes running now (associations in progress).
      type: int
    version:
      description: What C(px-listen --version) reports, or null.
      type: str
  sample: {link: /usr/local/bin/px-listen, is_link: true, target: /opt/pypx/bin/px-listen, exists: true,
           launcher: null, running: 0, version: 1.2.0}
echo:
  description: The C-ECHO against the listener.
  returned: when O(echo=true)
  type: dict
  contains:
    ok:
      description: Whether the listener answered with Success.
      type: bool
    rtt_ms:
      description: Round-trip time of the whole echoscu run, in milliseconds.
      type: float
    message:
      description: What echoscu reported.
      type: str
    host:
      description: The address used.
      type: str
    port:
      description: The port used.
      type: int
  sample: {ok: true, rtt_ms: 12.3, message: C-ECHO answered with Success, host: 127.0.0.1, port: 10402}
pacs_echo:
  description:
    - One C-ECHO result per remote PACS, with its name, aetitle, host and port, the fields of RV(echo), and a
      readable C(line).
  returned: when O(pacs_echo=true)
  type: list
  elements: dict
  sample: [{name: main-pacs, aetitle: HOSPITALPACS, host: 10.1.2.3, port: 104, ok: false, rtt_ms: 10003.1,
            message: "Association Request Failed: ... Connection refused",
            line: "PACS main-pacs (AE title HOSPITALPACS at 10.1.2.3:104): C-ECHO FAILED: ... Connection refused"}]
health:
  description:
    - What a sender's Success cannot tell. Counts are zero on a healthy gateway.
  returned: when O(health=true)
  type: dict
  contains:
    tmp_associations:
      description: Association dirs in the tmp dir (px-listen leaves every one behind).
      type: int
    stranded_associations:
      description: Association dirs older than O(stranded_age) holding instances not filed under the data dir.
      type: int
    stranded_instances:
      description: Instances in those dirs that were received and never filed.
      type: int
    stranded_paths:
      description: Up to 20 of those dirs.
      type: list
      elements: str
    error_logs:
      description: px-listen error logs (C(err-*.txt)) in the log dir.
      type: int
    error_log_files:
      description: Up to 20 of them, newest names last.
      type: list
      elements: str
    receiving_series:
      description: Series still marked C(receiving.series) after O(stranded_age) seconds.
      type: int
    receiving_series_paths:
      description: Up to 20 of their markers.
      type: list
      elements: str
    filed_instances:
      description: Instances filed under the data dir.
      type: int
    disk:
      description: Free and total bytes and free percent of the data dir's file system.
      type: dict
    problems:
      description: Dirs that could not be read.
      type: list
      elements: str
  sample: {tmp_associations: 3, stranded_associations: 0, stranded_instances: 0, error_logs: 0, receiving_series: 0,
           filed_instances: 120, disk: {free_bytes: 51234567890, total_bytes: 107374182400, free_percent: 47.7}}
summary:
  description: One line a PACS admin can act on.
  returned: always
  type: str
  sample: "Send to AE title CHRISLOCAL at 192.168.10.20:10402: the listener answers C-ECHO (12 ms)"
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pacsgate.listener.plugins.module_utils import gateway
from ansible_collections.pacsgate.listener.plugins.module_utils import systemd_units
from ansible_collections.pacsgate.listener.plugins.module_utils import validate
from ansible_collections.pacsgate.listener.plugins.module_utils import xinetd

XINETD_BINARIES = ('/usr/sbin/xinetd', '/usr/bin/xinetd')
SYSTEMD_RUN_DIR = '/run/systemd/system'
RC_DIR = '/etc'
ROUTE_PROBES = ('8.8.8.8', '2001:4860:4860::8888')


def network_facts(module):
    """host_ip, the reason, and every global address."""
    ip_cmd = module.get_bin_path('ip')
    route, addresses = None, []
    if ip_cmd:
        rc, out, _err = module.run_command([ip_cmd, '-o', 'addr', 'show'])
        if rc == 0:
            addresses = gateway.parse_ip_addr(out)
        for probe in ROUTE_PROBES:
            family = '-6' if ':' in probe else '-4'
            rc, out, _err = module.run_command([ip_cmd, family, 'route', 'get', probe])
            if rc == 0:
                route = gateway.parse_route_get(out)
                break
    host_ip, reason = gateway.choose_host_ip(route, addresses)
    return host_ip, reason, gateway.global_addresses(addresses)


def xinetd_facts(module, proc_root='/proc'):
    """Whether xinetd is installed, running and enabled at boot."""
    installed = any(os.path.exists(path) for path in XINETD_BINARIES)
    pids = gateway.find_pids(gateway.is_xinetd, proc_root)
    enabled = None
    systemctl = module.get_bin_path('systemctl')
    if systemctl and os.path.isdir(SYSTEMD_RUN_DIR):
        rc, out, _err = module.run_command([systemctl, 'is-enabled', 'xinetd'])
        enabled = out.strip() in ('enabled', 'enabled-runtime', 'generated', 'alias') and rc == 0
    elif os.path.isdir(os.path.join(RC_DIR, 'rc2.d')):
        enabled = any(name.startswith('S') and name.endswith('xinetd')
                      for level in '2345' for name in _listdir(os.path.join(RC_DIR, 'rc%s.d' % level)))
    return {'installed': installed, 'running': bool(pids), 'pid': pids[0] if pids else None, 'enabled': enabled}


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def service_facts(params):
    """Parse the service file and the defaults it inherits."""
    path = os.path.join(params['xinetd_dir'], params['service_name'])
    result = {'path': path, 'exists': os.path.exists(path), 'found': False, 'error': None, 'attributes': {}}
    empty = xinetd.service_summary({})
    result.update(empty)
    if not result['exists']:
        result['error'] = 'no service file %s' % path
        return result
    defaults = None
    if os.path.exists(params['xinetd_conf']):
        try:
            defaults = xinetd.parse_file(params['xinetd_conf'])['defaults']
        except (IOError, OSError, xinetd.XinetdParseError) as exc:
            result['error'] = 'cannot read %s: %s' % (params['xinetd_conf'], exc)
    try:
        parsed = xinetd.parse_file(path)
    except (IOError, OSError) as exc:
        result['error'] = 'cannot read %s: %s' % (path, exc)
        return result
    except xinetd.XinetdParseError as exc:
        result['error'] = str(exc)
        return result
    for service in parsed['services']:
        if service['name'] == params['service_name']:
            attributes = xinetd.effective_attributes(service, defaults)
            result.update(xinetd.service_summary(attributes))
            result.update(found=True, attributes=attributes)
            return result
    result['error'] = 'no service %s in %s' % (params['service_name'], path)
    return result


def socket_facts(module, service_name):
    """The socket unit's state from systemctl."""
    systemctl = module.get_bin_path('systemctl')
    unit = service_name + '.socket'
    if not systemctl or not os.path.isdir(SYSTEMD_RUN_DIR):
        state = systemd_units.socket_state({'Id': unit})
        state['error'] = 'systemd is not the service manager of this host'
        return state
    rc, out, err = module.run_command([systemctl, 'show', unit, '-p', ','.join(systemd_units.SHOW_PROPERTIES)])
    state = systemd_units.socket_state(systemd_units.parse_show(out) if rc == 0 else {'Id': unit})
    state['error'] = None if rc == 0 else (err.strip() or 'systemctl show exited %d' % rc)
    return state


def px_listen_facts(module, server, proc_root='/proc'):
    """The px-listen the service starts (directly or through the lean launcher), what it points
    to, how many run now and its version."""
    link, launcher = gateway.px_listen_program(server)
    running = gateway.find_pids(gateway.runs_script('px-listen'), proc_root)
    if launcher:
        running += gateway.find_pids(gateway.runs_script(os.path.basename(launcher), depth=3), proc_root)
    facts = {'link': link, 'is_link': False, 'target': None, 'exists': False, 'launcher': launcher,
             'running': len(running), 'version': None}
    if not link:
        return facts
    facts['is_link'] = os.path.islink(link)
    if os.path.exists(link):
        facts.update(target=os.path.realpath(link), exists=True)
        # px-listen prints its version and exits 1, by its own convention.
        _rc, out, err = module.run_command([link, '--version'])
        facts['version'] = gateway.version_from_output(out + err)
    return facts


def c_echo(module, echoscu, called, host, port, calling, timeout):
    """One DICOM C-ECHO with dcmtk's echoscu: ok, round trip in ms and what echoscu said."""
    result = {'ok': False, 'rtt_ms': None, 'message': '', 'host': host, 'port': port, 'aetitle': called}
    if not echoscu:
        result['message'] = "dcmtk's echoscu is not installed"
        return result
    if not host or not port:
        result['message'] = 'no address or port to send the C-ECHO to'
        return result
    argv = [echoscu, '-v', '-aet', calling, '-to', str(timeout), '-ta', str(timeout), '-td', str(timeout)]
    if called:
        argv += ['-aec', called]
    argv += [host, str(port)]
    start = time.monotonic()
    rc, out, err = module.run_command(argv)
    result['rtt_ms'] = round((time.monotonic() - start) * 1000.0, 1)
    text = out + err
    if rc == 0 and 'Success' in text:
        result.update(ok=True, message='C-ECHO answered with Success')
    else:
        errors = [line[3:] if line.startswith(('E: ', 'F: ')) else line
                  for line in text.splitlines() if line.startswith(('E: ', 'F: '))]
        result['message'] = '; '.join(errors) or 'echoscu exited %d' % rc
    return result


def listener_host(params, service):
    """Where to reach the listener from the gateway itself."""
    if params['host']:
        return params['host']
    bind = service.get('bind')
    return {None: '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '::1'}.get(bind, bind)


def summarise(result):
    """One line: where to send, and whether it answers."""
    service = result['service']
    aetitle = result['aetitle'] or '(any)'
    where = 'Send to AE title %s at %s:%s' % (aetitle, result['host_ip'] or '(no address)', service.get('port') or '?')
    socket = result.get('socket')
    if not service['found']:
        state = 'NO LISTENER: %s' % service['error']
    elif service['disable']:
        state = 'the service is DISABLED in %s' % service['path']
    elif socket is not None and not socket['active']:
        state = 'the socket %s is NOT ACTIVE (%s, %s)' % (socket['unit'], socket['state'], socket['result'])
    elif socket is None and not result['xinetd']['running']:
        state = 'xinetd is NOT RUNNING'
    elif not result['listening']:
        state = 'NOTHING LISTENS on port %s' % service.get('port')
    elif 'echo' in result:
        echo = result['echo']
        state = ('the listener answers C-ECHO (%d ms)' % echo['rtt_ms'] if echo['ok']
                 else 'C-ECHO FAILED: %s' % echo['message'])
    else:
        state = 'the port listens (no C-ECHO requested)'
    notes = []
    health = result.get('health') or {}
    for key, label in (('stranded_associations', 'stranded associations'), ('error_logs', 'error logs'),
                       ('receiving_series', 'series stuck receiving')):
        if health.get(key):
            notes.append('%d %s' % (health[key], label))
    failed_pacs = [p['name'] for p in result.get('pacs_echo', []) if not p['ok']]
    if failed_pacs:
        notes.append('PACS not answering: %s' % ', '.join(failed_pacs))
    return '%s: %s%s' % (where, state, ' [%s]' % '; '.join(notes) if notes else '')


def parameter_problems(params):
    """The problems with the options that name things, from the validators the role uses too."""
    problems = validate.service_name(params['service_name'], 'service_name')
    for key in ('aetitle', 'calling_aetitle'):
        if params[key] is not None:
            problems += validate.aetitle(params[key], key)
    if params['host'] is not None:
        problems += validate.host(params['host'], 'host')
    return problems + validate.pacs(params['pacs'], 'pacs')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type='str', default='xinetd', choices=['xinetd', 'systemd']),
            service_name=dict(type='str', default='dicomlistener'),
            unit_dir=dict(type='path', default='/etc/systemd/system'),
            xinetd_dir=dict(type='path', default='/etc/xinetd.d'),
            xinetd_conf=dict(type='path', default='/etc/xinetd.conf'),
            aetitle=dict(type='str'),
            calling_aetitle=dict(type='str', default='PACSGATE-CHECK'),
            host=dict(type='str'),
            echo=dict(type='bool', default=False),
            pacs_echo=dict(type='bool', default=False),
            pacs=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                aetitle=dict(type='str', required=True),
                host=dict(type='str', required=True),
                port=dict(type='int', required=True),
            )),
            timeout=dict(type='int', default=10),
            tmp_dir=dict(type='path'),
            log_dir=dict(type='path'),
            data_dir=dict(type='path'),
            stranded_age=dict(type='int', default=300),
            health=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problems = parameter_problems(params)
    if problems:
        module.fail_json(msg='; '.join(problems), problems=problems)

    host_ip, reason, host_ips = network_facts(module)
    if params['backend'] == 'systemd':
        service = systemd_units.read_listener(params['unit_dir'], params['service_name'])
    else:
        service = service_facts(params)
    args = service['server_args'].split()
    wrapper = gateway.option_value(args, '-e', '--executable')
    aetitle = params['aetitle']
    if aetitle is None and wrapper and os.path.isfile(wrapper):
        with open(wrapper) as handle:
            aetitle = gateway.aetitle_from_wrapper(handle.read())
    port = service['port']

    result = dict(
        changed=False,
        host_ip=host_ip,
        host_ip_reason=reason,
        host_ips=host_ips,
        xinetd=xinetd_facts(module),
        service=service,
        aetitle=aetitle,
        listening_addresses=gateway.listening_addresses(port) if port else [],
        px_listen=px_listen_facts(module, service['server']),
    )
    result['listening'] = bool(result['listening_addresses'])
    if params['backend'] == 'systemd':
        result['socket'] = socket_facts(module, params['service_name'])

    echoscu = module.get_bin_path('echoscu')
    if params['echo']:
        result['echo'] = c_echo(module, echoscu, aetitle, listener_host(params, service), port,
                                params['calling_aetitle'], params['timeout'])
    if params['pacs_echo']:
        result['pacs_echo'] = []
        for pacs in params['pacs']:
            echo = c_echo(module, echoscu, pacs['aetitle'], pacs['host'], pacs['port'],
                          params['calling_aetitle'], params['timeout'])
            echo['name'] = pacs['name']
            echo['line'] = 'PACS %s (AE title %s at %s:%s): %s' % (
                pacs['name'], pacs['aetitle'], pacs['host'], pacs['port'],
                'answers C-ECHO (%d ms)' % echo['rtt_ms'] if echo['ok'] else 'C-ECHO FAILED: %s' % echo['message'])
            result['pacs_echo'].append(echo)
    if params['health']:
        dirs = {}
        for key, flag, default in (('tmp_dir', '-t', 'tmp'), ('log_dir', '-l', 'log'), ('data_dir', '-d', 'data')):
            dirs[key] = params[key] or gateway.option_value(args, flag) or os.path.join('/home/dicom', default)
        result['health'] = gateway.health(dirs['tmp_dir'], dirs['log_dir'], dirs['data_dir'], params['stranded_age'])
        result['health'].update(dirs)
    result['summary'] = summarise(result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
