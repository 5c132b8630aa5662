# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The status playbook's filters (playbooks/status.yml):

- dicom_listener_status_report(hostvars, hosts, fail_on): the fleet table (one row per gateway) and
  a block of details per gateway, as a list of lines, from each gateway's dicom_listener_info result;
- dicom_listener_status_failures(result, fail_on): the problems of one gateway that fail it;
- dicom_listener_status_problems(variables): what is wrong with the playbook's own variables.

Counts, ages, addresses and AE titles only: dicom_listener_info returns no patient data unless
show_paths, and nothing here prints a path of the listener's directories."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.module_utils import validate

COLUMNS = ('gateway', 'address', 'AE title', 'up', 'last association', 'today', 'stranded', 'quarantined',
           'disk free')
RESULT_VAR = '__dicom_listener_status'


def age(seconds):
    """A short age: 42 s, 5 min, 3 h, 2 d; 'never' for None."""
    if seconds is None:
        return 'never'
    for unit, size in (('d', 86400), ('h', 3600), ('min', 60)):
        if seconds >= size:
            return '%d %s' % (seconds // size, unit)
    return '%d s' % seconds


def ago(seconds):
    """'5 min ago', or 'never'."""
    return 'never' if seconds is None else age(seconds) + ' ago'


def _count(value):
    return '-' if value is None else str(value)


def is_up(result):
    """The listener is found, running and listening, and answers the C-ECHO when one was sent."""
    listener = result.get('listener') or {}
    echo = result.get('echo')
    return bool(listener.get('found') and listener.get('running') and listener.get('listening')
                and not listener.get('disable') and (echo is None or echo.get('ok')))


def lowest_free_percent(health):
    values = [space.get('free_percent') for space in ((health or {}).get('disk') or {}).values()]
    values = [value for value in values if value is not None]
    return min(values) if values else None


def row(host, result):
    """The table's cells for one gateway (result None: no result, the gateway was not reached)."""
    if result is None:
        return [host, '-', '-', 'UNREACHABLE', '-', '-', '-', '-', '-']
    health = result.get('health') or {}
    free = lowest_free_percent(health)
    return [host, result.get('host_ip') or '-', result.get('aetitle') or '-', 'yes' if is_up(result) else 'NO',
            age(health.get('last_association_age')) if health else '-', _count(health.get('received_today')),
            _count(health.get('stranded')), _count(health.get('quarantined_instances')),
            '-' if free is None else '%.1f %%' % free]


def table(rows):
    """Rows of cells as aligned lines under the column names."""
    rows = [list(COLUMNS)] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return ['  '.join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip() for r in rows]


def failures(result, fail_on):
    """The messages of the problems whose condition is in fail_on."""
    if result is None:
        return []
    return [p['message'] for p in result.get('problems') or [] if p.get('condition') in fail_on]


def _gib(value):
    return '?' if value is None else '%.1f GiB' % (value / 1073741824.0)


def details(host, result, fail_on):
    """The block of one gateway: its summary, then a line per part."""
    lines = ['== %s ==' % host]
    if result is None:
        return lines + ['no result: the gateway was not reached or the module failed (see above)']
    lines.append(result.get('summary') or '')
    listener = result.get('listener') or {}
    lines.append('listener: %s backend, %s %s, %s at boot; service %s (%s); port %s %s' % (
        result.get('backend'), listener.get('manager'), 'running' if listener.get('running') else 'NOT running',
        'enabled' if listener.get('enabled') else 'NOT enabled', listener.get('definition'),
        'DISABLED' if listener.get('disable') else 'found' if listener.get('found') else 'NOT found',
        listener.get('port') or '?', 'listening' if listener.get('listening') else 'NOT listening'))
    filer = result.get('filer')
    if filer:
        lines.append('filer: %s %s, %s at boot; receiver %s' % (
            filer.get('unit'), 'running' if filer.get('running') else 'NOT running',
            'enabled' if filer.get('enabled') else 'NOT enabled', result.get('receiver')))
    px_listen = result.get('px_listen')
    if px_listen is not None:
        lines.append('px-listen: %s -> %s, version %s' % tuple(
            px_listen.get(key) or 'unknown' for key in ('link', 'target', 'version')))
    tls = result.get('tls') or {}
    if tls.get('enabled'):
        lines.append('TLS: on, certificate %s' % (tls.get('error') or 'valid until %s (%s days left)' % (
            tls.get('not_after'), tls.get('days_left'))))
    echo = result.get('echo')
    if echo is not None:
        said = 'answered with Success (%d ms)' % echo['rtt_ms'] if echo.get('ok') else 'FAILED: %s' % echo.get('message')
        lines.append('C-ECHO to the listener: %s' % said)
    lines.extend(p.get('line', '') for p in result.get('pacs_echo') or [])
    health = result.get('health')
    if health:
        refused = health.get('associations_refused') or {}
        lines.append('associations: %d accepted, %d refused%s; last %s; %d C-ECHO(s) of the gateway itself' % (
            health.get('associations_accepted', 0), sum(refused.values()),
            ' (%s)' % ', '.join('%s %d' % item for item in sorted(refused.items())) if refused else '',
            ago(health.get('last_association_age')), health.get('associations_checks', 0)))
        reasons = health.get('quarantine_reasons') or {}
        lines.append('instances: %d received today, %d filed in all, last filed %s; %d receiving, %d queued, '
                     '%d stranded, %d in quarantine%s%s' % (
                         health.get('received_today', 0), health.get('instances_filed', 0),
                         ago(health.get('last_filed_age')), health.get('receiving', 0), health.get('queued', 0),
                         health.get('stranded', 0), health.get('quarantined_instances', 0),
                         ' (%s)' % ', '.join('%s %d' % item for item in sorted(reasons.items())) if reasons else '',
                         '; REFUSING associations' if health.get('refuse') else ''))
        lines.append('disk: %s; the filer last wrote its statistics %s' % ('; '.join(
            '%s %s free (%s)' % (name, '?' if space.get('free_percent') is None else '%.1f %%' % space['free_percent'],
                                 _gib(space.get('free_bytes')))
            for name, space in sorted((health.get('disk') or {}).items())), ago(health.get('filer_updated_age'))))
    problems = result.get('problems') or []
    failing = set(failures(result, fail_on))
    lines.extend('problem (%s)%s: %s' % (p.get('condition'), ', FAILS' if p.get('message') in failing else '',
                                         p.get('message')) for p in problems)
    if not problems:
        lines.append('problems: none')
    return lines


def _result(hostvars, host, var):
    try:
        found = hostvars[host].get(var)
    except (KeyError, AttributeError, TypeError):
        return None
    return found if isinstance(found, dict) and 'summary' in found else None


def _fail_on(fail_on):
    fail_on = validate.STATUS_FAIL_ON_DEFAULT if fail_on is None else fail_on
    problems = validate.status_fail_on(fail_on, 'fail_on')
    if problems:
        raise AnsibleFilterError('; '.join(problems))
    return list(fail_on)


def dicom_listener_status_report(hostvars, hosts, fail_on=None, var=RESULT_VAR):
    """The fleet table, then a block per gateway, as a list of lines."""
    fail_on = _fail_on(fail_on)
    results = [(host, _result(hostvars, host, var)) for host in hosts]
    lines = table([row(host, result) for host, result in results])
    failing = [host for host, result in results if result is None or failures(result, fail_on)]
    lines.append('%d gateway(s), %d failing%s' % (len(results), len(failing),
                                                  ': %s' % ', '.join(failing) if failing else ''))
    for host, result in results:
        lines.append('')
        lines.extend(details(host, result, fail_on))
    return lines


def dicom_listener_status_failures(result, fail_on=None):
    """The problems of one gateway's dicom_listener_info result that fail it."""
    return failures(result, _fail_on(fail_on))


def dicom_listener_status_problems(variables):
    """What is wrong with the status playbook's variables (a dict name -> value)."""
    if not isinstance(variables, dict):
        raise AnsibleFilterError('dicom_listener_status_problems needs a dict')
    return validate.status_problems(dict((name, variables[name]) for name in variables))


class FilterModule(object):
    """The status playbook's filters."""

    def filters(self):
        return {
            'dicom_listener_status_report': dicom_listener_status_report,
            'dicom_listener_status_failures': dicom_listener_status_failures,
            'dicom_listener_status_problems': dicom_listener_status_problems,
        }
