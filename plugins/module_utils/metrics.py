# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Prometheus metrics of the DICOM listener, for node_exporter's textfile collector.

    python -m pacsgate_listener.metrics --config /etc/pacsgate/<service>.json [--output FILE|-] [--no-echo]

Run every minute as the listener (a systemd timer, or cron). Sends the listener a C-ECHO (over TLS
when it speaks TLS), reads the tmp tree and the filer's statistics with the root-safe health reader
(records.health) and free space, and writes the settings' metrics_file atomically: a temp file in
the same directory, then a rename, so node_exporter never reads half a file. Every metric is named
pacsgate_* and labelled with the service. Counts, ages and times only, never patient data.
Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import math
import os
import sys
import time

from . import listener_state
from . import records

DEFAULT_CALLING_AETITLE = 'PACSGATE-CHECK'


def collect(config, now, run=listener_state.subprocess_run, which=listener_state.system_which, echo=True,
            timeout=10):
    """What the metrics are made of: the C-ECHO (None without echo), health, stats and TLS."""
    result = {'echo': None, 'tls': listener_state.tls_state(config.get('tls'), now)}
    if echo:
        calling = config.get('verify_calling_aetitle') or DEFAULT_CALLING_AETITLE
        result['echo'] = listener_state.listener_echo(run, which('echoscu'), config, calling, None, timeout)
    found = records.health(config['tmp_dir'], config['log_dir'], stranded_after=60 * config['refile_after_minutes'],
                           now=now)
    result['stats'] = found.pop('stats')
    result['health'] = found
    result['disk'] = {'tmp': listener_state.disk(config['tmp_dir']), 'data': listener_state.disk(config['data_dir'])}
    return result


def escape(value):
    """A label value as the text format wants it."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def number(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    return repr(value)


class Exposition:
    """Families of samples in Prometheus' text format, each with its HELP and TYPE once."""

    def __init__(self, service):
        self.base = {'service': service}
        self.lines = []

    def family(self, name, kind, text, samples):
        """samples: [(labels dict, value)] or [(suffix, labels, value)]; families without samples are left out."""
        samples = [s if len(s) == 3 else ('',) + tuple(s) for s in samples]
        samples = [s for s in samples if s[2] is not None]
        if not samples:
            return
        self.lines.append('# HELP %s %s' % (name, text.replace('\\', '\\\\').replace('\n', ' ')))
        self.lines.append('# TYPE %s %s' % (name, kind))
        for suffix, labels, value in samples:
            merged = dict(self.base, **labels)
            self.lines.append('%s%s{%s} %s' % (name, suffix, ','.join(
                '%s="%s"' % (key, escape(merged[key])) for key in sorted(merged)), number(value)))

    def text(self):
        return '\n'.join(self.lines) + '\n'


def render(config, snapshot):
    """The metrics text of a collect() snapshot."""
    out = Exposition(config.get('service') or 'dicomlistener')
    stats = snapshot['stats'] or records.empty_stats()
    health, echo, tls = snapshot['health'], snapshot['echo'], snapshot['tls']
    associations = stats['associations']
    out.family('pacsgate_info', 'gauge', 'The listener: receiver, backend, AE title and port (always 1).',
               [({'receiver': config.get('receiver') or '', 'backend': config.get('backend') or '',
                  'aetitle': config.get('aetitle') or '', 'port': config.get('port') or ''}, 1)])
    if echo is not None:
        out.family('pacsgate_up', 'gauge', '1 when the listener answered a C-ECHO with Success, else 0.',
                   [({}, echo['ok'])])
        out.family('pacsgate_echo_duration_seconds', 'gauge', 'Seconds the C-ECHO to the listener took.',
                   [({}, None if echo['rtt_ms'] is None else echo['rtt_ms'] / 1000.0)])
    out.family('pacsgate_associations_accepted_total', 'counter',
               'Associations the gate accepted from senders (the gateway\'s own C-ECHOs not counted).',
               [({}, associations['accepted'])])
    refused = associations['refused']
    out.family('pacsgate_associations_refused_total', 'counter', 'Associations the gate refused, by reason.',
               [({'reason': reason}, refused.get(reason, 0))
                for reason in sorted(set(records.REFUSED_REASONS) | set(refused))])
    out.family('pacsgate_check_associations_total', 'counter',
               'Associations of the gateway\'s own C-ECHOs (verify step, status playbook, these metrics).',
               [({}, associations.get('checks', 0))])
    out.family('pacsgate_associations_filed_total', 'counter', 'Associations the filer finished filing.',
               [({}, stats['associations_filed'])])
    out.family('pacsgate_instances_received_total', 'counter',
               'Instances received and taken by the filer (filed, quarantined or superseded).',
               [({}, stats['instances_filed'] + stats['instances_quarantined'] + stats['instances_superseded'])])
    for name, key, text in (('filed', 'instances_filed', 'Instances filed into the data dir and verified.'),
                            ('quarantined', 'instances_quarantined', 'Instances moved to quarantine.'),
                            ('replaced', 'instances_replaced', 'Filed instances that replaced a different copy.'),
                            ('superseded', 'instances_superseded',
                             'Instances not filed because a copy received later is filed (in the same or a later association).')):
        out.family('pacsgate_instances_%s_total' % name, 'counter', text, [({}, stats[key])])
    out.family('pacsgate_filed_bytes_total', 'counter', 'Bytes filed.', [({}, stats['bytes_filed'])])
    for name, value, text in (
            ('receiving', health['receiving'], 'Associations being received now.'),
            ('queued', health['queued'], 'Associations received and waiting to be filed.'),
            ('stranded', health['stranded'], 'Associations waiting to be filed longer than the refile delay.')):
        out.family('pacsgate_associations_%s' % name, 'gauge', text, [({}, value)])
    out.family('pacsgate_quarantine_instances', 'gauge', 'Instances in quarantine now.',
               [({}, health['quarantined_instances'])])
    out.family('pacsgate_quarantine_reason_instances', 'gauge', 'Instances in quarantine now, by error class.',
               [({'reason': reason}, count) for reason, count in sorted(health['quarantine_reasons'].items())])
    out.family('pacsgate_oldest_pending_age_seconds', 'gauge',
               'Age of the oldest association waiting to be filed (0 when none waits).',
               [({}, health['oldest_pending_age'] or 0)])
    latency = stats['filing_latency_seconds']
    buckets = [('_bucket', {'le': le}, latency['buckets'].get(le, 0)) for le in records.LATENCY_BUCKETS]
    out.family('pacsgate_filing_latency_seconds', 'histogram',
               'Seconds from the end of an association to its instances being filed.',
               buckets + [('_sum', {}, latency['sum']), ('_count', {}, latency['count'])])
    out.family('pacsgate_last_association_timestamp_seconds', 'gauge',
               'Unix time of the last association of a sender.', [({}, health['last_association_at'])])
    out.family('pacsgate_last_filed_timestamp_seconds', 'gauge', 'Unix time of the last filing.',
               [({}, stats['last_filed_at'])])
    out.family('pacsgate_filer_heartbeat_timestamp_seconds', 'gauge',
               'Unix time the filer last wrote its statistics.', [({}, stats['updated'])])
    out.family('pacsgate_refusing', 'gauge', '1 while the refuse flag makes the gate refuse associations (low disk).',
               [({}, health['refuse'])])
    for name, key, text in (('free', 'free_bytes', 'Bytes free for the listener'),
                            ('size', 'total_bytes', 'Size in bytes')):
        out.family('pacsgate_filesystem_%s_bytes' % name, 'gauge', '%s on the file system of the tmp or data dir.' % text,
                   [({'dir': place}, snapshot['disk'][place][key]) for place in ('tmp', 'data')])
    out.family('pacsgate_health_complete', 'gauge', '0 when the health reader stopped at its bound of entries.',
               [({}, health['complete'] and not health['problems'])])
    if tls['enabled']:
        out.family('pacsgate_tls_certificate_expiry_timestamp_seconds', 'gauge',
                   'Unix time the listener\'s TLS certificate expires (NaN when it cannot be read).',
                   [({}, tls['not_after_ts'] if tls['not_after_ts'] is not None else float('nan'))])
    return out.text()


def write(path, text):
    """Write text as path with records.write_atomic: a temp file in the same directory (mode 0644
    whatever the umask, for node_exporter), fsync, rename over path. The directory is opened
    without following a symlink."""
    directory, name = os.path.split(path)
    dir_fd = records.open_dir(directory or '.')
    try:
        records.write_atomic(dir_fd, name, text.encode('utf-8'), mode=0o644, sync_dir=False, exact_mode=True)
    finally:
        os.close(dir_fd)


def main(argv=None, stdout=None, stderr=None):
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    parser = argparse.ArgumentParser(prog='python -m pacsgate_listener.metrics', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--config', required=True, help='/etc/pacsgate/<service>.json')
    parser.add_argument('--output', help='where to write (default: the settings\' metrics_file; - for stdout)')
    parser.add_argument('--no-echo', action='store_true', help='send no C-ECHO (no pacsgate_up)')
    parser.add_argument('--timeout', type=int, default=10, help='seconds for each C-ECHO step')
    args = parser.parse_args(argv)
    try:
        config = records.load_config(args.config)
    except (OSError, ValueError) as exc:
        stderr.write('metrics: configuration %s: %s\n' % (args.config, records.errname(exc)))
        return 2
    output = args.output or config['metrics_file']
    if not output:
        stderr.write('metrics: the settings name no metrics_file; give --output\n')
        return 2
    text = render(config, collect(config, time.time(), echo=not args.no_echo, timeout=args.timeout))
    if output == '-':
        stdout.write(text)
        return 0
    try:
        write(output, text)
    except OSError as exc:
        stderr.write('metrics: cannot write %s: %s\n' % (output, records.errname(exc)))
        return 1
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
