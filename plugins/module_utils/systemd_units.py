# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read the systemd backend of the DICOM listener: a socket unit with Accept=yes and the templated
service it starts per association.

Every function takes text (unit files, `systemctl show` output) as arguments, so the unit tests
feed recorded or fabricated data. Standard library only; Python 3.6 and later.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
import shutil
import subprocess
import tempfile

SHOW_PROPERTIES = ('Id', 'LoadState', 'ActiveState', 'SubState', 'UnitFileState', 'Result',
                   'NAccepted', 'NConnections', 'NRefused', 'Listen', 'IPAddressAllow', 'IPAddressDeny')
# ExecStart= prefixes that change how systemd runs the command, not the command itself.
EXEC_PREFIXES = '-@:+!'


def parse_unit(text):
    """Parse a unit file into {section: {key: [values]}}.

    Comments (# and ;) and blank lines are skipped, a trailing backslash continues a line, and an
    empty assignment (Key=) resets the list, as systemd does."""
    sections, section, pending = {}, None, ''
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ''
        if not line or line[0] in '#;':
            continue
        if line.endswith('\\'):
            pending = line[:-1].rstrip() + ' '
            continue
        if line.startswith('[') and line.endswith(']'):
            section = sections.setdefault(line[1:-1], {})
            continue
        if section is None or '=' not in line:
            continue
        key, value = line.split('=', 1)
        key, value = key.strip(), value.strip()
        if value == '':
            section[key] = []
        else:
            section.setdefault(key, []).append(value)
    return sections


def last(unit, section, key, default=None):
    """The value that counts for a single-valued setting: the last one."""
    values = unit.get(section, {}).get(key) or []
    return values[-1] if values else default


def split_listen(value):
    """('address', port) of a ListenStream= value: 10402, 0.0.0.0:10402 or [::]:10402.

    A value without an address listens on every address ('::' in systemd's terms); the port is
    None when the value is no TCP port (a path, say)."""
    value = (value or '').strip()
    if value.isdigit():
        return '::', int(value)
    if value.startswith('['):
        address, _sep, port = value[1:].partition(']:')
    else:
        address, _sep, port = value.rpartition(':')
    return (address or None), (int(port) if port.isdigit() else None)


def split_exec(value):
    """(program, arguments as one string) of an ExecStart= value, with %% and $$ unescaped."""
    if not value:
        return None, ''
    argv = shlex.split(value.replace('%%', '%').replace('$$', '$'))
    if not argv:
        return None, ''
    program = argv[0].lstrip(EXEC_PREFIXES)
    return program, ' '.join(argv[1:])


def environment(values):
    """NAME -> value from Environment= lines (each may hold several quoted assignments)."""
    env = {}
    for line in values or []:
        for token in shlex.split(line):
            if '=' in token:
                key, value = token.split('=', 1)
                env[key] = value
    return env


def _int_or_none(value):
    return int(value) if value is not None and str(value).isdigit() else None


def listener_summary(socket_text, service_text, socket_path, service_path):
    """The listener's configuration from its socket and service units, with the keys the xinetd
    backend reports (port, bind, server, server_args, user, group, disable, only_from, env,
    instances, per_source) plus the paths and every parsed setting under 'attributes'."""
    socket_unit = parse_unit(socket_text) if socket_text is not None else {}
    service_unit = parse_unit(service_text) if service_text is not None else {}
    bind, port = split_listen(last(socket_unit, 'Socket', 'ListenStream'))
    server, server_args = split_exec(last(service_unit, 'Service', 'ExecStart'))
    only_from = []
    for line in socket_unit.get('Socket', {}).get('IPAddressAllow', []):
        only_from.extend(line.split())
    return {
        'path': socket_path,
        'service_path': service_path,
        'port': port,
        'bind': bind,
        'server': server,
        'server_args': server_args,
        'user': last(service_unit, 'Service', 'User'),
        'group': last(service_unit, 'Service', 'Group'),
        'disable': False,
        'accept': last(socket_unit, 'Socket', 'Accept') in ('yes', 'true', '1', 'on'),
        'only_from': only_from,
        'deny': ' '.join(socket_unit.get('Socket', {}).get('IPAddressDeny', [])) or None,
        'env': environment(service_unit.get('Service', {}).get('Environment')),
        'instances': _int_or_none(last(socket_unit, 'Socket', 'MaxConnections')),
        'per_source': _int_or_none(last(socket_unit, 'Socket', 'MaxConnectionsPerSource')),
        'kill_mode': last(service_unit, 'Service', 'KillMode'),
        'attributes': {'socket': socket_unit, 'service': service_unit},
    }


def read_listener(unit_dir, service_name):
    """listener_summary() of the units in unit_dir, with 'exists', 'found' and 'error' as for xinetd."""
    socket_path = os.path.join(unit_dir, service_name + '.socket')
    service_path = os.path.join(unit_dir, service_name + '@.service')
    texts, errors = {}, []
    for key, path in (('socket', socket_path), ('service', service_path)):
        try:
            with open(path) as handle:
                texts[key] = handle.read()
        except (IOError, OSError) as exc:
            texts[key] = None
            errors.append('no unit %s' % path if not os.path.exists(path) else 'cannot read %s: %s' % (path, exc))
    result = listener_summary(texts['socket'], texts['service'], socket_path, service_path)
    result.update(exists=texts['socket'] is not None, found=not errors, error='; '.join(errors) or None)
    if not errors and not result['accept']:
        result.update(found=False, error='%s does not set Accept=yes' % socket_path)
    return result


def parse_show(text):
    """`systemctl show -p ...` output as a dict."""
    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep:
            props[key] = value
    return props


def socket_state(props):
    """What an operator needs of the socket unit from `systemctl show` properties."""
    return {
        'unit': props.get('Id'),
        'loaded': props.get('LoadState') == 'loaded',
        'active': props.get('ActiveState') == 'active',
        'state': props.get('ActiveState'),
        'sub_state': props.get('SubState'),
        'listening': props.get('SubState') == 'listening',
        'enabled': props.get('UnitFileState') in ('enabled', 'enabled-runtime', 'alias') if props.get('UnitFileState') else None,
        'result': props.get('Result'),
        'accepted': _int_or_none(props.get('NAccepted')),
        'connections': _int_or_none(props.get('NConnections')),
        'refused': _int_or_none(props.get('NRefused')),
        'listen': [item for item in (props.get('Listen') or '').split('\n') if item],
    }


def _siblings(unit_name, unit_dir):
    """The units in unit_dir that a unit may refer to: same stem (its socket or service), and the
    listener's resume unit."""
    stem = unit_name.split('@')[0].rsplit('.', 1)[0]
    found = []
    for name in sorted(os.listdir(unit_dir)) if os.path.isdir(unit_dir) else []:
        if name != unit_name and name.split('@')[0].rsplit('.', 1)[0] in (stem, stem + '-resume'):
            found.append(name)
    return found


def unit_problems(path, unit_name, unit_dir, run=subprocess.run):
    """What `systemd-analyze verify` says about the rendered unit ``path`` installed as
    ``unit_name``, as a list of lines (empty when it says nothing).

    systemd-analyze verify needs the unit under its real name, and only warns (exit 0) about unknown
    keys and values it cannot parse, which systemd then ignores: any remark about the unit counts.
    The unit is copied with its siblings from ``unit_dir`` (a socket needs its service) into an empty
    directory and verified there."""
    work = tempfile.mkdtemp(prefix='pacsgate-verify-')
    try:
        for name in _siblings(unit_name, unit_dir):
            shutil.copyfile(os.path.join(unit_dir, name), os.path.join(work, name))
        staged = os.path.join(work, unit_name)
        shutil.copyfile(path, staged)
        proc = run(['systemd-analyze', 'verify', '--man=no', staged], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        stem = unit_name.replace('@.', '@').rsplit('.', 1)[0]
        # Remarks about other units of the host are not ours to judge.
        ours = [line for line in proc.stdout.splitlines() if work in line or line.startswith(stem)]
        if proc.returncode != 0 and not ours:
            ours = [proc.stdout.strip() or 'systemd-analyze verify exited %d' % proc.returncode]
        return ours
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv, stderr):
    """The check the dicom_listener role runs before a rendered unit replaces the live one
    (``python -m pacsgate_listener.systemd_units FILE UNIT_NAME UNIT_DIR``). Returns 0 when
    systemd-analyze says nothing about the unit, 1 with its remarks on stderr, 2 on wrong usage."""
    if len(argv) != 4:
        stderr.write('usage: python -m pacsgate_listener.systemd_units FILE UNIT_NAME UNIT_DIR\n')
        return 2
    problems = unit_problems(argv[1], argv[2], argv[3])
    if problems:
        stderr.write('%s is not a valid %s:\n%s\n' % (argv[1], argv[2], '\n'.join(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    import sys
    raise SystemExit(main(sys.argv, sys.stderr))
