# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Render the configuration file of pacsgate-gate, the per-association gate.

``render(config)`` turns a dict of already validated values into the gate's line-based file
(roles/dicom_listener/files/pacsgate-gate documents the format): AE titles hex-encoded, networks
normalised with ipaddress, host names as ``peer-name`` lines. What cannot be written so that the
gate reads back exactly the same value raises ValueError. Standard library only; Python 3.8+.

The dict (every key required unless marked optional; unknown keys are refused)::

    called         the called AE title the gate accepts, or None for any
    peers          list of rules {"aetitle": calling AE title or None for any,
                                  "source": address, network (CIDR) or host name}
    mode           "plain" or "tls"
    refuse_flag    absolute path of the refuse flag
    incoming       absolute path of the incoming dir (filer mode), or None (px-listen mode)
    log            absolute path of the associations log
    syslog         (optional) absolute path of the syslog socket; None or absent: /dev/log
    acse_timeout   seconds to wait for the A-ASSOCIATE-RQ (1-86400)
    argv           the program to exec and its arguments (list of strings, argv[0] absolute)
    output_option  the option the gate appends with the association dir (filer mode), or None

Networks: an address is a /32 (IPv4) or /128 (IPv6) network; host bits are cleared
(10.1.2.3/24 is 10.1.2.0/24); an IPv4-mapped IPv6 network (::ffff:10.0.0.0/104) is the IPv4
network it maps (10.0.0.0/8), because the gate sees IPv4-mapped peers as IPv4 peers; an IPv6
network holding all of ::ffff:0:0/96 (::/0, for instance) therefore also gets the rule 0.0.0.0/0.
Host names are resolved by the gate at each association, to IPv4 addresses only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from . import validate

KEYS = ('called', 'peers', 'mode', 'refuse_flag', 'incoming', 'log', 'syslog', 'acse_timeout',
        'argv', 'output_option')
OPTIONAL_KEYS = ('syslog',)
RULE_KEYS = ('aetitle', 'source')


MAPPED = ipaddress.IPv6Network('::ffff:0:0/96')


def peers_of(pacs, allowed_sources, calling_aetitle_check=True):
    """The gate's peer rules from the role's variables: each PACS may connect from its host with
    its own calling AE title (any calling AE title when ``calling_aetitle_check`` is false); each
    allowed source (loopback among them) with any calling AE title."""
    rules = []
    for entry in pacs:
        rules.append({'aetitle': entry['aetitle'] if calling_aetitle_check else None,
                      'source': str(entry['host'])})
    for source in allowed_sources:
        rules.append({'aetitle': None, 'source': str(source)})
    return rules


def aetitle_hex(value, what):
    """The hex encoding of an AE title that the project's one AE title validator accepts."""
    problems = validate.aetitle(value, what)
    if problems:
        raise ValueError(problems[0])
    return value.encode('ascii').hex()


def verbatim(value, what, absolute=False):
    """A value the gate reads verbatim to the end of its line."""
    if not isinstance(value, str):
        raise ValueError('%s must be a string, not %s' % (what, type(value).__name__))
    if '\n' in value or '\r' in value or '\0' in value:
        raise ValueError('%s %r holds a line break or NUL, which the configuration file cannot hold'
                         % (what, value))
    if absolute and not value.startswith('/'):
        raise ValueError('%s %r is not an absolute path' % (what, value))
    return value


def network_lines(source):
    """(family, hex network, prefix) tuples for an address or network, or None for a host name."""
    if not isinstance(source, str) or not source:
        raise ValueError('peer source %r must be a non-empty string' % (source,))
    if '%' in source:
        # Python 3.9+ parses fe80::1%eth0, but the gate compares addresses only: the zone would be lost
        raise ValueError('peer source %r: scoped IPv6 addresses cannot be matched' % source)
    try:
        net = ipaddress.ip_network(source, strict=False)
    except ValueError:
        return None
    if net.version == 6 and net.prefixlen >= 96 and net.network_address in MAPPED:
        net = ipaddress.IPv4Network((int(net.network_address) & 0xffffffff, net.prefixlen - 96))
    lines = []
    if net.version == 4:
        lines.append(('4', '%08x' % int(net.network_address), net.prefixlen))
    else:
        lines.append(('6', '%032x' % int(net.network_address), net.prefixlen))
        if net.supernet_of(MAPPED):
            lines.append(('4', '00000000', 0))
    return lines


def peer_lines(rule):
    if not isinstance(rule, dict):
        raise ValueError('peer rule %r is not a dict' % (rule,))
    unknown = sorted(set(rule) - set(RULE_KEYS))
    if unknown or 'source' not in rule:
        raise ValueError('peer rule %r: keys are aetitle and source (unknown: %s)'
                         % (rule, ', '.join(unknown) or 'none'))
    aetitle = rule.get('aetitle')
    ae = '*' if aetitle is None else aetitle_hex(aetitle, 'peer AE title')
    source = rule['source']
    nets = network_lines(source)
    if nets is None:
        problems = validate.host(source, 'peer source')
        if problems:
            raise ValueError(problems[0])
        return ['peer-name %s %s' % (ae, source)]
    return ['peer %s %s %s %d' % (ae, family, address, prefix) for family, address, prefix in nets]


def render(config):
    """The text of a pacsgate-gate configuration file for CONFIG (see the module docstring)."""
    if not isinstance(config, dict):
        raise ValueError('the gate configuration must be a dict')
    unknown = sorted(set(config) - set(KEYS))
    missing = [k for k in KEYS if k not in config and k not in OPTIONAL_KEYS]
    if unknown or missing:
        raise ValueError('gate configuration: unknown keys: %s; missing keys: %s'
                         % (', '.join(unknown) or 'none', ', '.join(missing) or 'none'))

    mode = config['mode']
    if mode not in ('plain', 'tls'):
        raise ValueError('mode %r is neither plain nor tls' % (mode,))
    called = config['called']
    called_hex = '*' if called is None else aetitle_hex(called, 'called AE title')

    peers = config['peers']
    if not isinstance(peers, (list, tuple)):
        raise ValueError('peers must be a list of rules')
    rules = []
    for rule in peers:
        for line in peer_lines(rule):
            if line not in rules:
                rules.append(line)

    timeout = config['acse_timeout']
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 86400:
        raise ValueError('acse_timeout %r is not a whole number of seconds from 1 to 86400' % (timeout,))

    argv = config['argv']
    if not isinstance(argv, (list, tuple)) or not argv:
        raise ValueError('argv must be a non-empty list')
    program = verbatim(argv[0], 'argv[0]', absolute=True)
    args = [verbatim(a, 'argument') for a in argv[1:]]

    incoming, output_option = config['incoming'], config['output_option']
    if incoming is not None and output_option is None:
        raise ValueError('filer mode (incoming set) needs output_option')
    if incoming is None and output_option is not None:
        raise ValueError('output_option is only used in filer mode (incoming set)')

    lines = [
        '# pacsgate-gate configuration, rendered by pacsgate.listener: local changes are overwritten.',
    ]
    # syslog first: the gate reports errors in the lines after it to that socket
    if config.get('syslog') is not None:
        lines.append('syslog %s' % verbatim(config['syslog'], 'syslog', absolute=True))
    lines += [
        'mode %s' % mode,
        'called %s' % called_hex,
    ]
    lines.extend(rules)
    lines.append('refuse-flag %s' % verbatim(config['refuse_flag'], 'refuse_flag', absolute=True))
    if incoming is not None:
        lines.append('incoming %s' % verbatim(incoming, 'incoming', absolute=True))
    lines.append('log %s' % verbatim(config['log'], 'log', absolute=True))
    lines.append('acse-timeout %d' % timeout)
    lines.append('exec %s' % program)
    lines.extend('arg %s' % a for a in args)
    if output_option is not None:
        option = verbatim(output_option, 'output_option')
        if not option:
            raise ValueError('output_option must not be empty')
        lines.append('output-option %s' % option)
    return '\n'.join(lines) + '\n'


def exec_argv(text):
    """The argv a gate configuration file execs (its `exec` line and `arg` lines, verbatim), or []."""
    argv = []
    for line in text.split('\n'):
        directive, sep, value = line.partition(' ')
        if not sep:
            continue
        if directive == 'exec':
            argv = [value]
        elif directive == 'arg' and argv:
            argv.append(value)
    return argv
