# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The state of a PACS gateway's DICOM listener, read without changing anything.

What the info module (dicom_listener_info) and the metrics writer (metrics.py) report: the address
a PACS sends to, the listener (xinetd or the systemd socket) and the filer, px-listen in px-listen
mode, C-ECHOs to the listener and to each PACS (over TLS when the listener speaks TLS), the TLS
certificate's expiry, the health of the received data (records.health: the tmp tree and the stats,
never the data dir, no symlink followed), free space, the problems found and a one-line summary.

Commands run through ``run(argv) -> (rc, stdout, stderr)`` (the module's run_command, or
``subprocess_run`` outside Ansible) and are looked up with ``which(name)``, so the unit tests feed
recorded output. Counts, ages and error classes only: paths only when asked for.
Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import calendar
import os
import re
import subprocess
import time

from . import gateconf
from . import gateway
from . import records
from . import systemd_units
from . import validate
from . import xinetd

XINETD_BINARIES = ('/usr/sbin/xinetd', '/usr/bin/xinetd')
SYSTEMD_RUN_DIR = '/run/systemd/system'
RC_DIR = '/etc'
PROC_ROOT = '/proc'
SYSTEM_BIN_DIRS = ['/usr/bin', '/usr/sbin', '/bin', '/sbin']
ROUTE_PROBES = ('8.8.8.8', '2001:4860:4860::8888')
LEAN_LAUNCHER = 'px_listen_lean.py'
# Every condition problems() reports, the status playbook's dicom_listener_status_fail_on values.
CONDITIONS = validate.STATUS_CONDITIONS
TLS_WARN_DAYS = 14
ENABLED_STATES = ('enabled', 'enabled-runtime', 'generated', 'alias', 'static', 'indirect')


def system_which(name):
    """which() for code outside Ansible: the system's programs first (dcmtk's echoscu, not pynetdicom's)."""
    import shutil  # pylint: disable=import-outside-toplevel
    return shutil.which(name, path=os.pathsep.join(SYSTEM_BIN_DIRS + [os.environ.get('PATH', '')]))


def subprocess_run(argv, timeout=120):
    """run() for code outside Ansible (the metrics writer): argv only, no shell, no stdin."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, '', '%s: %s' % (argv[0], type(exc).__name__)
    return proc.returncode, proc.stdout, proc.stderr


# Addresses -----------------------------------------------------------------------------------------

def network(run, which):
    """(host_ip, how it was chosen, every global address) from `ip`."""
    ip_cmd = which('ip')
    route, addresses = None, []
    if ip_cmd:
        rc, out, _err = run([ip_cmd, '-o', 'addr', 'show'])
        if rc == 0:
            addresses = gateway.parse_ip_addr(out)
        for probe in ROUTE_PROBES:
            rc, out, _err = run([ip_cmd, '-6' if ':' in probe else '-4', 'route', 'get', probe])
            if rc == 0:
                route = gateway.parse_route_get(out)
                break
    host_ip, reason = gateway.choose_host_ip(route, addresses)
    return host_ip, reason, gateway.global_addresses(addresses)


# Services ------------------------------------------------------------------------------------------

def systemd_runs():
    return os.path.isdir(SYSTEMD_RUN_DIR)


def systemctl_show(run, which, unit):
    """systemctl show's properties of unit, or None where systemd is not the service manager."""
    systemctl = which('systemctl')
    if not systemctl or not systemd_runs():
        return None
    rc, out, _err = run([systemctl, 'show', unit, '-p', ','.join(systemd_units.SHOW_PROPERTIES)])
    return systemd_units.parse_show(out) if rc == 0 else {'Id': unit}


def _rc_enabled(name):
    """Whether an init script starts at boot (S links in rc2.d to rc5.d); None without rc dirs."""
    if not os.path.isdir(os.path.join(RC_DIR, 'rc2.d')):
        return None
    for level in '2345':
        try:
            names = os.listdir(os.path.join(RC_DIR, 'rc%s.d' % level))
        except OSError:
            continue
        if any(n.startswith('S') and n[1:].lstrip('0123456789') == name for n in names):
            return True
    return False


def xinetd_definition(service_name, xinetd_dir, xinetd_conf):
    """The listener's xinetd service, with the defaults it inherits: found, error, disable, port, bind,
    server_args."""
    path = os.path.join(xinetd_dir, service_name)
    found = {'path': path, 'found': False, 'error': None, 'disable': False, 'port': None, 'bind': None,
             'server_args': ''}
    defaults = None
    try:
        if os.path.exists(xinetd_conf):
            defaults = xinetd.parse_file(xinetd_conf)['defaults']
        parsed = xinetd.parse_file(path)
    except (IOError, OSError) as exc:
        found['error'] = 'no service file %s' % path if not os.path.exists(path) else 'cannot read %s (%s)' % (
            path, type(exc).__name__)
        return found
    except xinetd.XinetdParseError as exc:
        found['error'] = str(exc)
        return found
    for service in parsed['services']:
        if service['name'] == service_name:
            summary = xinetd.service_summary(xinetd.effective_attributes(service, defaults))
            found.update((key, summary[key]) for key in ('disable', 'port', 'bind', 'server_args'))
            found['found'] = True
            return found
    found['error'] = 'no service %s in %s' % (service_name, path)
    return found


def listener(run, which, backend, service_name, xinetd_dir, xinetd_conf, unit_dir, port):
    """The listener: what starts it (xinetd, or the socket unit), the definition found, and whether
    the port listens. backend None: the socket unit's file decides."""
    if backend is None:
        backend = 'systemd' if os.path.exists(os.path.join(unit_dir, service_name + '.socket')) else 'xinetd'
    if backend == 'systemd':
        definition = systemd_units.read_listener(unit_dir, service_name)
        props = systemctl_show(run, which, service_name + '.socket')
        state = systemd_units.socket_state(props or {'Id': service_name + '.socket'})
        result = {'manager': state['unit'], 'installed': definition['exists'], 'running': state['active'],
                  'enabled': state['enabled'], 'state': state['sub_state'], 'result': state['result'],
                  'connections': state['connections'], 'disable': False,
                  'error': definition['error'] if props is not None else
                  'systemd is not the service manager of this host'}
    else:
        definition = xinetd_definition(service_name, xinetd_dir, xinetd_conf)
        pids = gateway.find_pids(gateway.is_xinetd, PROC_ROOT)
        systemctl = which('systemctl')
        if systemctl and systemd_runs():
            rc, out, _err = run([systemctl, 'is-enabled', 'xinetd'])
            enabled = rc == 0 and out.strip() in ENABLED_STATES
        else:
            enabled = _rc_enabled('xinetd')
        result = {'manager': 'xinetd', 'installed': any(os.path.exists(p) for p in XINETD_BINARIES),
                  'running': bool(pids), 'enabled': enabled, 'disable': definition['disable'],
                  'error': definition['error']}
    port = port or definition['port']
    addresses = gateway.listening_addresses(port, PROC_ROOT) if port else []
    result.update(backend=backend, found=definition['found'], definition=definition['path'], port=port,
                  bind=definition['bind'], listening=bool(addresses), listening_addresses=addresses,
                  definition_port=definition['port'])
    args = (definition.get('server_args') or '').split()
    result['gate_config'] = args[-1] if args and args[-1].endswith('.gate') else None
    return result


def filer(run, which, service_name, config_path):
    """The filer service (pacsgate-filer-<service>): running and enabled."""
    unit = 'pacsgate-filer-%s' % service_name
    props = systemctl_show(run, which, unit + '.service')
    if props is not None:
        state = systemd_units.socket_state(props)
        return {'unit': unit, 'running': state['active'], 'enabled': state['enabled'], 'state': state['state']}

    def is_filer(argv):
        return ('pacsgate_listener.filer' in argv[:6] and config_path in argv and '--once' not in argv)
    pids = gateway.find_pids(is_filer, PROC_ROOT)
    return {'unit': unit, 'running': bool(pids), 'enabled': _rc_enabled(unit), 'state': None}


def px_listen(run, argv):
    """px-listen mode: the px-listen the gate execs (through the lean launcher or directly), where
    its link points and its version; each null when unknown."""
    facts = {'link': None, 'target': None, 'version': None}
    if not argv:
        return facts
    if any(os.path.basename(arg) == LEAN_LAUNCHER for arg in argv[1:3]):
        facts['link'] = os.path.join(os.path.dirname(argv[0]), 'px-listen')
    else:
        facts['link'] = argv[0]
    if os.path.exists(facts['link']):
        facts['target'] = os.path.realpath(facts['link'])
        # px-listen prints its version and exits 1, by its own convention.
        _rc, out, err = run([facts['link'], '--version'])
        facts['version'] = gateway.version_from_output(out + err)
    return facts


def gate_argv(path):
    """The argv the gate's configuration file execs, or [] when it cannot be read."""
    try:
        data = records.read_regular(path, limit=1024 * 1024)
    except (OSError, ValueError):
        return []
    return gateconf.exec_argv(data.decode('utf-8', 'replace')) if data is not None else []


# C-ECHO --------------------------------------------------------------------------------------------

def tls_options(tls):
    """echoscu's TLS options: the gateway's key and certificate as its identity; the client CA as trust
    when there is one (the listener requires it of its clients), otherwise no verification."""
    if not tls:
        return []
    return (['+tls', tls['key'], tls['cert'], '-pw']
            + (['+cf', tls['client_ca']] if tls.get('client_ca') else ['-ic']))


def echo(run, echoscu, calling, called, host, port, timeout, tls=None, clock=time.monotonic):
    """One C-ECHO with dcmtk's echoscu: ok, round trip in ms and what echoscu said."""
    result = {'ok': False, 'rtt_ms': None, 'message': None}
    if not echoscu:
        result['message'] = "dcmtk's echoscu is not installed"
        return result
    if not host or not port:
        result['message'] = 'no address or port to send the C-ECHO to'
        return result
    argv = [echoscu, '-v', '-aet', calling, '-to', str(timeout), '-ta', str(timeout), '-td', str(timeout)]
    argv += (['-aec', called] if called else []) + tls_options(tls) + [host, str(port)]
    start = clock()
    rc, out, err = run(argv)
    result['rtt_ms'] = round((clock() - start) * 1000.0, 1)
    text = out + err
    if rc == 0 and 'Received Echo Response (Success)' in text:
        result.update(ok=True, message='answered with Success')
    else:
        errors = [line[3:] for line in text.splitlines() if line.startswith(('E: ', 'F: '))]
        result['message'] = '; '.join(errors) or 'echoscu exited %d' % rc
    return result


def listener_echo(run, echoscu, settings, calling, host, timeout):
    """The C-ECHO to the listener, with its AE title, over TLS when it speaks TLS."""
    return echo(run, echoscu, calling, settings.get('aetitle'), host or settings.get('verify_host') or '127.0.0.1',
                settings.get('port'), timeout, settings.get('tls'))


def pacs_echoes(run, echoscu, settings, timeout):
    """A C-ECHO to each PACS of the settings, with the gateway's own AE title (the one each PACS knows)
    as calling AE title, over TLS when the listener speaks TLS."""
    results = []
    for pacs in settings.get('pacs') or []:
        result = echo(run, echoscu, settings.get('aetitle') or '', pacs['aetitle'], pacs['host'], pacs['port'],
                      timeout, settings.get('tls'))
        result = dict(name=pacs['name'], aetitle=pacs['aetitle'], host=pacs['host'], port=int(pacs['port']), **result)
        result['line'] = 'PACS %s (AE title %s at %s:%s): %s' % (
            pacs['name'], pacs['aetitle'], pacs['host'], pacs['port'],
            'answers C-ECHO (%d ms)' % result['rtt_ms'] if result['ok'] else 'C-ECHO FAILED: %s' % result['message'])
        results.append(result)
    return results


# TLS -----------------------------------------------------------------------------------------------

def _der(data, pos):
    """(tag, start of contents, end of contents) of the DER item at pos."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7f
        if not 1 <= count <= 4:
            raise ValueError('unsupported DER length')
        length = int.from_bytes(data[pos:pos + count], 'big')
        pos += count
    if pos + length > len(data):
        raise ValueError('truncated DER')
    return tag, pos, pos + length


def _asn1_time(tag, raw):
    text = raw.decode('ascii')
    if tag == 0x17 and re.fullmatch(r'\d{12}Z', text):
        year = int(text[:2])
        year, rest = year + (2000 if year < 50 else 1900), text[2:]
    elif tag == 0x18 and re.fullmatch(r'\d{14}Z', text):
        year, rest = int(text[:4]), text[4:]
    else:
        raise ValueError('not a UTCTime or GeneralizedTime in Z')
    parts = [int(rest[i:i + 2]) for i in range(0, 10, 2)]
    return calendar.timegm((year,) + tuple(parts) + (0, 0, 0))


def certificate_not_after(pem):
    """The notAfter time (unix) of the first certificate of a PEM file's bytes; ValueError otherwise."""
    match = re.search(br'-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----', pem, re.S)
    if not match:
        raise ValueError('no PEM certificate')
    try:
        der = base64.b64decode(b''.join(match.group(1).split()), validate=True)
        _tag, pos, _end = _der(der, 0)             # Certificate
        _tag, pos, _end = _der(der, pos)           # TBSCertificate
        tag, _start, end = _der(der, pos)
        if tag == 0xa0:                            # [0] version
            pos = end
        for _field in ('serialNumber', 'signature', 'issuer'):
            pos = _der(der, pos)[2]
        _tag, pos, _end = _der(der, pos)           # Validity
        pos = _der(der, pos)[2]                    # notBefore
        tag, start, end = _der(der, pos)           # notAfter
        return _asn1_time(tag, der[start:end])
    except (IndexError, TypeError, ValueError) as exc:
        raise ValueError('not a certificate (%s)' % type(exc).__name__)


def tls_state(tls, now):
    """Whether the listener speaks TLS and when its certificate expires."""
    state = {'enabled': bool(tls), 'not_after': None, 'not_after_ts': None, 'days_left': None, 'error': None}
    if not tls:
        return state
    try:
        data = records.read_regular(tls['cert'], limit=1024 * 1024)
        if data is None:
            raise ValueError('missing')
        not_after = certificate_not_after(data)
    except (OSError, ValueError) as exc:
        state['error'] = 'certificate not readable (%s)' % records.errname(exc)
        return state
    state.update(not_after=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(not_after)),
                 not_after_ts=not_after, days_left=round((not_after - now) / 86400.0, 1))
    return state


# Health --------------------------------------------------------------------------------------------

def disk(path):
    """Free and total bytes and free percent of path's file system, opened without following a symlink."""
    result = {'free_bytes': None, 'total_bytes': None, 'free_percent': None, 'error': None}
    try:
        fd = records.open_dir(path)
        try:
            st = os.fstatvfs(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        result['error'] = records.errname(exc)
        return result
    result.update(free_bytes=st.f_bavail * st.f_frsize, total_bytes=st.f_blocks * st.f_frsize,
                  free_percent=round(100.0 * st.f_bavail / st.f_blocks, 1) if st.f_blocks else None)
    return result


def _age(now, when):
    return None if when is None else round(max(0.0, now - when), 1)


def health(settings, now, with_paths=False):
    """What a sender's Success cannot tell: records.health() of the tmp tree and stats, the stats'
    counters, and free space of the tmp and data file systems. Never reads the data dir."""
    found = records.health(settings['tmp_dir'], settings['log_dir'],
                           stranded_after=60 * settings['refile_after_minutes'], now=now, with_paths=with_paths)
    stats = found.pop('stats') or records.empty_stats()
    associations = stats['associations']
    result = dict(found)
    result.update(
        stranded_after=60 * settings['refile_after_minutes'],
        last_association_age=_age(now, found['last_association_at']),
        last_filed_at=stats['last_filed_at'], last_filed_age=_age(now, stats['last_filed_at']),
        received_today=stats['received_by_day'].get(time.strftime('%Y-%m-%d', time.gmtime(now)), 0),
        instances_filed=stats['instances_filed'], instances_quarantined_total=stats['instances_quarantined'],
        instances_replaced=stats['instances_replaced'], instances_superseded=stats['instances_superseded'],
        associations_filed=stats['associations_filed'],
        associations_accepted=associations['accepted'], associations_checks=associations.get('checks', 0),
        associations_refused=dict((k, v) for k, v in associations['refused'].items() if v),
        filer_updated_at=stats['updated'], filer_updated_age=_age(now, stats['updated']),
        filing_latency_seconds=stats['filing_latency_seconds'],
        disk={'tmp': disk(settings['tmp_dir']), 'data': disk(settings['data_dir'])})
    if with_paths:
        result['dirs'] = dict((key, settings[key]) for key in records.CONFIG_PATHS)
    return result


# Problems and summary ------------------------------------------------------------------------------

def problems(result, min_free_percent=10, min_free_mb=0, now=None):
    """The conditions an operator must act on: a list of {condition, message} (CONDITIONS)."""
    found = []

    def add(condition, message):
        found.append({'condition': condition, 'message': message})

    lst = result.get('listener') or {}
    if result.get('settings_error'):
        add('listener', 'no usable settings: %s' % result['settings_error'])
    elif not lst.get('found'):
        add('listener', 'NO LISTENER: %s' % (lst.get('error') or 'no service definition'))
    elif lst.get('disable'):
        add('listener', 'the service is DISABLED in %s' % lst['definition'])
    elif not lst.get('running'):
        add('listener', '%s is NOT RUNNING%s' % (lst['manager'], ' (%s)' % lst['result']
                                                 if lst.get('result') not in (None, 'success') else ''))
    elif not lst.get('listening'):
        add('listener', 'NOTHING LISTENS on port %s' % lst.get('port'))
    flr = result.get('filer')
    if flr is not None and not flr['running']:
        add('listener', 'the filer %s is NOT RUNNING: nothing received is filed' % flr['unit'])
    if result.get('echo') is not None and not result['echo']['ok']:
        add('echo', 'the listener did not answer a C-ECHO: %s' % result['echo']['message'])
    for pacs in result.get('pacs_echo') or []:
        if not pacs['ok']:
            add('pacs_echo', 'PACS %s did not answer a C-ECHO: %s' % (pacs['name'], pacs['message']))
    hlt = result.get('health')
    if hlt:
        if hlt['stranded']:
            add('stranded', '%d association(s) received and not filed for over %d min (oldest %d min)' % (
                hlt['stranded'], hlt['stranded_after'] // 60, (hlt['oldest_pending_age'] or 0) // 60))
        if hlt['quarantined_instances']:
            add('quarantined', '%d instance(s) in quarantine (%s)' % (hlt['quarantined_instances'], ', '.join(
                '%s: %d' % item for item in sorted(hlt['quarantine_reasons'].items()))))
        if hlt['refuse']:
            add('disk', 'REFUSING associations: %s' % (hlt['refuse_reason'] or 'the refuse flag is set'))
        for name, space in sorted(hlt['disk'].items()):
            if space['free_percent'] is not None and (space['free_percent'] < min_free_percent
                                                      or space['free_bytes'] < min_free_mb * 1048576):
                add('disk', 'the %s file system has %.1f%% free (%d MB)' % (
                    name, space['free_percent'], space['free_bytes'] // 1048576))
        for text in hlt['problems']:
            add('listener', text)
    tls = result.get('tls') or {}
    if tls.get('error'):
        add('tls', 'TLS %s' % tls['error'])
    elif tls.get('days_left') is not None and tls['days_left'] < TLS_WARN_DAYS:
        add('tls', 'the TLS certificate %s on %s' % ('EXPIRED' if tls['days_left'] < 0 else 'expires',
                                                     tls['not_after']))
    return found


def _ago(seconds):
    if seconds is None:
        return 'never'
    for unit, size in (('d', 86400), ('h', 3600), ('min', 60)):
        if seconds >= size:
            return '%d %s ago' % (seconds // size, unit)
    return '%d s ago' % seconds


def summary(result):
    """One line a PACS admin can act on: where to send, whether it answers, what is wrong."""
    where = 'Send to AE title %s at %s:%s' % (result.get('aetitle') or '(unknown)', result.get('host_ip') or
                                              '(no address)', result.get('port') or '?')
    echo_result = result.get('echo')
    if echo_result is not None and echo_result['ok']:
        state = 'the listener answers C-ECHO (%d ms)' % echo_result['rtt_ms']
    elif echo_result is not None:
        state = 'C-ECHO FAILED'
    elif (result.get('listener') or {}).get('listening'):
        state = 'the port listens (no C-ECHO sent)'
    else:
        state = 'NOTHING LISTENS'
    hlt = result.get('health')
    if hlt:
        state += '; last association %s, %d instance(s) today' % (_ago(hlt['last_association_age']), hlt['received_today'])
    found = result.get('problems') or []
    notes = ' [%s]' % '; '.join(p['message'] for p in found) if found else ''
    return '%s: %s%s' % (where, state, notes)
