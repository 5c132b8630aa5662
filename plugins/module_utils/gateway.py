# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read-only facts about a PACS gateway: addresses, listening sockets, processes.

Every function takes its inputs (command output, a /proc root, directories) as arguments, so the
unit tests can feed recorded or fabricated data. Standard library only; Python 3.6 and later.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import socket

# Interfaces that never carry the address a PACS should send to.
VIRTUAL_INTERFACE_PREFIXES = (
    'lo', 'docker', 'br-', 'veth', 'virbr', 'cni', 'flannel', 'cali', 'vxlan', 'podman',
    'kube', 'tun', 'tap', 'weave', 'lxcbr', 'lxdbr',
)

VERSION_LINE = re.compile(r'Version:\s*(\S+)')


def is_virtual_interface(name):
    """True for loopback, container bridges and virtual Ethernet pairs."""
    return name.startswith(VIRTUAL_INTERFACE_PREFIXES)


def parse_ip_addr(text):
    """Parse `ip -o addr show` into a list of address dicts (interface, address, prefix, family, scope)."""
    result = []
    for line in text.splitlines():
        fields = line.replace('\\', ' ').split()
        if len(fields) < 4 or fields[2] not in ('inet', 'inet6'):
            continue
        address, _sep, prefix = fields[3].partition('/')
        scope = fields[fields.index('scope') + 1] if 'scope' in fields[:-1] else ''
        result.append({
            'interface': fields[1].split('@', 1)[0],
            'address': address,
            'prefix': int(prefix) if prefix.isdigit() else None,
            'family': 'ipv4' if fields[2] == 'inet' else 'ipv6',
            'scope': scope,
        })
    return result


def parse_route_get(text):
    """Parse `ip route get ADDRESS` into {'dev', 'src', 'via'} (values None when absent)."""
    fields = text.split()
    route = {'dev': None, 'src': None, 'via': None}
    for key in route:
        if key in fields[:-1]:
            route[key] = fields[fields.index(key) + 1]
    return route


def global_addresses(addresses):
    """Addresses with global scope, as a PACS admin would list them."""
    return [a for a in addresses if a['scope'] == 'global']


def choose_host_ip(route, addresses):
    """The address a PACS should send to, and how it was chosen.

    The source address of the default route, as Ansible's default_ipv4 reports it, unless that
    route leaves through a virtual interface; otherwise the first global IPv4 (then IPv6) address
    of a physical interface. Returns (address or None, reason).
    """
    if route and route.get('src') and route.get('dev') and not is_virtual_interface(route['dev']):
        return route['src'], 'source address of the default route (%s)' % route['dev']
    candidates = [a for a in global_addresses(addresses) if not is_virtual_interface(a['interface'])]
    for family in ('ipv4', 'ipv6'):
        for a in candidates:
            if a['family'] == family:
                return a['address'], 'first global %s address (%s); no usable default route' % (family, a['interface'])
    return None, 'no global address on a physical interface'


def listening_addresses(port, proc_root='/proc'):
    """Local addresses with a TCP socket in LISTEN state on `port`, from /proc/net/tcp and tcp6."""
    found = []
    for name, family in (('tcp', 'ipv4'), ('tcp6', 'ipv6')):
        path = os.path.join(proc_root, 'net', name)
        try:
            with open(path) as handle:
                lines = handle.read().splitlines()[1:]
        except (IOError, OSError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != '0A':
                continue
            hex_addr, _sep, hex_port = fields[1].partition(':')
            if int(hex_port, 16) == int(port):
                found.append(_decode_proc_address(hex_addr, family))
    return found


def _decode_proc_address(hex_addr, family):
    """Decode an address of /proc/net/tcp: 32-bit words in host (little endian) byte order."""
    raw = bytes(bytearray.fromhex(hex_addr))
    data = b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if family == 'ipv4' else socket.AF_INET6, data)


def processes(proc_root='/proc'):
    """Yield (pid, argv list) of every process readable in `proc_root`."""
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc_root, entry, 'cmdline'), 'rb') as handle:
                raw = handle.read()
        except (IOError, OSError):
            continue
        argv = [part.decode('utf-8', 'replace') for part in raw.split(b'\0') if part]
        if argv:
            yield int(entry), argv


def find_pids(predicate, proc_root='/proc'):
    """Sorted pids of processes whose argv satisfies predicate(argv)."""
    return sorted(pid for pid, argv in processes(proc_root) if predicate(argv))


def is_xinetd(argv):
    """True for the xinetd daemon itself."""
    return os.path.basename(argv[0]) == 'xinetd'


def version_from_output(text):
    """The version px-listen prints for --version ('Version: 1.2.0'), or None."""
    match = VERSION_LINE.search(text)
    return match.group(1) if match else None
