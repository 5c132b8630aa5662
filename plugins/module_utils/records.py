# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The listener's tmp tree, its association records and stats file, and a health reader.

Layout (all owned by the listener, under the tmp dir)::

    <tmp>/incoming/<id>/       storescp receiving (its .lock held)
    <tmp>/incoming/.new-<id>/  the gate setting up
    <tmp>/queue/<id>/          finished, waiting to be filed or being filed (lock held while filing)
    <tmp>/filed/<id>/          filed and verified: .pacsgate-record.json inside
    <tmp>/quarantine/<id>/     instances that cannot be filed: <file> + <file>.reason.json
    <tmp>/<uuid4>/             px-listen mode: px-listen's own association dirs
    <tmp>/.pacsgate-refuse     the refuse flag (text: why)

and ``<log>/pacsgate-stats.json``, rewritten atomically under an flock of
``<log>/.pacsgate-stats.lock``.

health() is what the info module, the metrics writer and housekeeping read. It runs as root over
directories the listener can write, so it follows no symlink (directories are opened with
O_NOFOLLOW relative to their parent's descriptor, entries are judged by lstat through scandir,
files are opened with O_NOFOLLOW and read only when regular and small), never enters the data dir
and never descends into a filed association: its cost grows with the backlog (associations not yet
filed, quarantined instances), not with the archive. Counts, ages and error classes only; paths
only with ``with_paths=True``.

Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import re
import stat
import threading
import time

from . import validate

VERSION = 1

INCOMING = 'incoming'
QUEUE = 'queue'
FILED = 'filed'
QUARANTINE = 'quarantine'
REFUSE_FLAG = '.pacsgate-refuse'
RECORD = '.pacsgate-record.json'
ASSOCIATION_INFO = '.association'
LOCK = '.lock'
NEW_PREFIX = '.new-'
REASON_SUFFIX = '.reason.json'
STATS = 'pacsgate-stats.json'
STATS_LOCK = '.pacsgate-stats.lock'
GATE_LOG = 'associations.log'

# Association dir names: the gate's <YYYYMMDDTHHMMSS>-<pid>-<8 hex>, or anything as plain.
ASSOCIATION_NAME = re.compile(r'[0-9A-Za-z][0-9A-Za-z_.-]{0,127}')
# px-listen's association dirs: str(uuid.uuid4()).
PX_LISTEN_NAME = re.compile(r'[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}')

LATENCY_BUCKETS = ('0.1', '0.5', '1', '2', '5', '10', '30', '60', '300', '+Inf')
REFUSED_REASONS = ('called-aetitle', 'calling-aetitle', 'source', 'disk', 'setup', 'protocol')
REASON_NAME = re.compile(r'[a-z][a-z0-9-]{0,31}')
DAYS_KEPT = 35

# Bounds of what the health reader reads.
SMALL_FILE = 64 * 1024
STATS_MAX = 1024 * 1024
MAX_ENTRIES = 100000
MAX_REASONS = 20000

O_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | O_CLOEXEC

CONFIG_PATHS = ('tmp_dir', 'log_dir', 'data_dir')
CONFIG_INTS = {'workers': (1, 64, 2), 'min_free_mb': (0, 1 << 30, 1024), 'refile_after_minutes': (1, 100000, 5),
               'log_max_mb': (1, 1 << 20, 16), 'log_retention_days': (1, 100000, 30), 'log_keep': (1, 100, 5)}
# Numbers that may have a fraction (hours: 0.5 is half an hour).
CONFIG_NUMBERS = {'min_age_hours': (0, 100000, 24)}
RECEIVERS = ('filer', 'px-listen')
BACKENDS = ('xinetd', 'systemd')
TLS_FILES = ('cert', 'key', 'client_ca')


class Layout:
    """Where things are, from the three top dirs."""

    def __init__(self, tmp_dir, log_dir, data_dir=None):
        self.tmp_dir = tmp_dir
        self.log_dir = log_dir
        self.data_dir = data_dir

    def tmp(self, *names):
        return os.path.join(self.tmp_dir, *names)

    @property
    def incoming(self):
        return self.tmp(INCOMING)

    @property
    def queue(self):
        return self.tmp(QUEUE)

    @property
    def filed(self):
        return self.tmp(FILED)

    @property
    def quarantine(self):
        return self.tmp(QUARANTINE)

    @property
    def refuse_flag(self):
        return self.tmp(REFUSE_FLAG)

    @property
    def stats(self):
        return os.path.join(self.log_dir, STATS)

    @property
    def gate_log(self):
        return os.path.join(self.log_dir, GATE_LOG)


def load_config(path):
    """The helpers' configuration (/etc/pacsgate/<service>.json), checked; raises ValueError."""
    with open(path) as handle:
        config = json.load(handle)
    if not isinstance(config, dict):
        raise ValueError('the configuration is not a JSON object')
    for key in CONFIG_PATHS:
        value = config.get(key)
        if not isinstance(value, str) or not value.startswith('/') or '\0' in value or value.rstrip('/') == '':
            raise ValueError('%s must be an absolute path' % key)
        config[key] = os.path.normpath(value)
    for key, (low, high, default) in CONFIG_INTS.items():
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError('%s must be an integer from %d to %d' % (key, low, high))
        config[key] = value
    for key, (low, high, default) in CONFIG_NUMBERS.items():
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError('%s must be a number from %d to %d' % (key, low, high))
        config[key] = value
    config.setdefault('receiver', 'filer')
    if config['receiver'] not in RECEIVERS:
        raise ValueError('receiver must be one of %s' % ', '.join(RECEIVERS))
    _check_listener_keys(config)
    dirs = [config[key] for key in CONFIG_PATHS]
    for one in dirs:
        for other in dirs:
            if one != other and (one + '/').startswith(other + '/'):
                raise ValueError('%s lies inside %s' % (one, other))
        if dirs.count(one) > 1:
            raise ValueError('tmp_dir, log_dir and data_dir must differ')
    return config


def _absolute_or_none(config, key):
    value = config.get(key)
    if value is not None and (not isinstance(value, str) or not value.startswith('/') or '\0' in value):
        raise ValueError('%s must be an absolute path or null' % key)


def _check_listener_keys(config):
    """The keys the info module, the metrics writer and the status playbook read: the backend, the
    listener's AE title and port, the verify step's address and calling AE title, the PACS list,
    TLS and the metrics file. Each may be missing (an older role wrote none of them): None."""
    config.setdefault('backend', None)
    if config['backend'] is not None and config['backend'] not in BACKENDS:
        raise ValueError('backend must be one of %s' % ', '.join(BACKENDS))
    problems = []
    for key, check in (('aetitle', validate.aetitle), ('verify_calling_aetitle', validate.aetitle),
                       ('port', validate.port), ('verify_host', validate.host)):
        config.setdefault(key, None)
        if config[key] is not None:
            problems += check(config[key], key)
    config.setdefault('pacs', [])
    problems += validate.pacs(config['pacs'], 'pacs')
    if problems:
        raise ValueError('; '.join(problems))
    config['port'] = int(config['port']) if config['port'] is not None else None
    tls = config.setdefault('tls', None)
    if tls is not None:
        if not isinstance(tls, dict) or set(tls) - set(TLS_FILES):
            raise ValueError('tls must be null or an object with the keys %s' % ', '.join(TLS_FILES))
        for key in TLS_FILES:
            tls.setdefault(key, None)
            _absolute_or_none(tls, key)
        if tls['cert'] is None or tls['key'] is None:
            raise ValueError('tls needs cert and key')
    config.setdefault('metrics_file', None)
    _absolute_or_none(config, 'metrics_file')


def layout(config):
    return Layout(config['tmp_dir'], config['log_dir'], config['data_dir'])


# Symlink-safe primitives -------------------------------------------------------------------------

def open_dir(name, dir_fd=None):
    """A descriptor of directory name (relative to dir_fd), never through a symlink at its end."""
    return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def read_regular(name, dir_fd=None, limit=SMALL_FILE):
    """The bytes of a regular file of at most limit bytes; None when it does not exist.

    Raises ValueError for a symlink, another kind of file or a larger file (nothing is read)."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise ValueError('a symlink')
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError('not a regular file')
        if st.st_size > limit:
            raise ValueError('larger than %d bytes' % limit)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError('larger than %d bytes' % limit)
        return b''.join(chunks)
    finally:
        os.close(fd)


def read_json(name, dir_fd=None, limit=SMALL_FILE):
    """A JSON object from a regular file; None when missing; ValueError when not readable as one."""
    data = read_regular(name, dir_fd=dir_fd, limit=limit)
    if data is None:
        return None
    value = json.loads(data.decode('utf-8'))
    if not isinstance(value, dict):
        raise ValueError('not a JSON object')
    return value


_tmp_counter = [0]
_tmp_lock = threading.Lock()


def _temp_name(name):
    with _tmp_lock:
        _tmp_counter[0] += 1
        count = _tmp_counter[0]
    return '.%s.tmp-%d-%d' % (name, os.getpid(), count)


def write_atomic(dir_fd, name, data, mode=0o640, sync_dir=True, exact_mode=False):
    """Write bytes as dir_fd/name: a temp file, fsync, rename over name, fsync of the dir (sync_dir).
    The file gets mode as the umask leaves it, or mode itself with exact_mode."""
    temp = _temp_name(name)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        try:
            if exact_mode:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    if sync_dir:
        os.fsync(dir_fd)


def dumps(value):
    return (json.dumps(value, indent=1, sort_keys=True) + '\n').encode('utf-8')


def lock_state(dir_fd, create=False):
    """(fd holding an exclusive flock, or None when another process holds it) of dir_fd/.lock.

    Without create, a missing .lock gives (None, 'missing'); otherwise the second item says
    'held' (by this call: close the fd to release it) or 'busy'."""
    flags = (os.O_RDWR | os.O_CREAT) if create else os.O_RDONLY
    try:
        fd = os.open(LOCK, flags | os.O_NOFOLLOW | os.O_NONBLOCK | O_CLOEXEC, 0o640, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT and not create:
            return None, 'missing'
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, 'the lock is not a regular file')
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError) as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None, 'busy'
        raise
    return fd, 'held'


def lock_is_free(dir_fd):
    """True when nobody holds dir_fd/.lock (or there is none), False while someone does.

    Takes and drops a shared lock: it never waits and never creates anything."""
    try:
        fd = os.open(LOCK, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return True
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        return True
    finally:
        os.close(fd)


def parse_association_info(data):
    """The gate's .association file (key=value lines) as a dict of strings."""
    info = {}
    for line in (data or b'').decode('utf-8', 'replace').splitlines():
        key, sep, value = line.partition('=')
        if sep and key in ('calling', 'called', 'peer', 'started', 'pid'):
            info[key] = value
    return info


def association_info(dir_fd):
    try:
        return parse_association_info(read_regular(ASSOCIATION_INFO, dir_fd=dir_fd, limit=4096))
    except (OSError, ValueError):
        return {}


def write_record(dir_fd, record):
    write_atomic(dir_fd, RECORD, dumps(record))


def read_record(dir_fd):
    return read_json(RECORD, dir_fd=dir_fd, limit=64 * 1024 * 1024)


# Received files ----------------------------------------------------------------------------------

def received_files(dir_fd, px_listen):
    """The received files of an association dir: [(name relative to it, lstat result)], oldest first
    (by mtime, then name).

    Filer mode: storescp's files in the dir (and below, if any). px-listen mode: only what is in
    its subdirs (storescp's -sp), as px-listen reads them. Dot entries, symlinks and other kinds of
    files are skipped; nothing is followed (subdirs are opened with O_NOFOLLOW relative to their
    parent's descriptor)."""
    found = []

    def walk(fd, prefix, depth):
        with os.scandir(fd) as it:
            entries = list(it)
        for entry in entries:
            if entry.name.startswith('.'):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                sub = _subdir(fd, entry.name)
                if sub is not None:
                    try:
                        walk(sub, prefix + entry.name + '/', depth + 1)
                    finally:
                        os.close(sub)
            elif stat.S_ISREG(st.st_mode) and (depth > 0 or not px_listen):
                found.append((prefix + entry.name, st))

    walk(dir_fd, '', 0)
    found.sort(key=lambda item: (item[1].st_mtime_ns, item[0]))
    return found


def recorded_files(record):
    """{name: size, or None for a quarantined one} of the received files a record accounts for."""
    recorded = {}
    if not isinstance(record, dict):
        return recorded
    for key in ('files', 'quarantine'):
        entries = record.get(key)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and isinstance(entry.get('name'), str):
                size = entry.get('size') if key == 'files' else None
                if key == 'files' and (not isinstance(size, int) or isinstance(size, bool)):
                    size = -1  # no file has this size: the file counts as changed
                recorded[entry['name']] = size
    return recorded


def unrecorded(received, record):
    """The names of received files (received_files()) a record does not account for: not in its files
    or quarantine, or in its files with another size."""
    recorded = recorded_files(record)
    missing = object()
    found = []
    for name, st in received:
        size = recorded.get(name, missing)
        if size is missing or size is not None and size != st.st_size:
            found.append(name)
    return found


# Stats -------------------------------------------------------------------------------------------

def empty_stats():
    return {
        'version': VERSION, 'updated': None,
        'associations': {'accepted': 0, 'checks': 0,
                         'refused': dict((reason, 0) for reason in REFUSED_REASONS)},
        'associations_filed': 0, 'instances_filed': 0, 'instances_quarantined': 0,
        'instances_replaced': 0, 'instances_superseded': 0, 'bytes_filed': 0,
        'last_association_at': None, 'last_filed_at': None,
        'filing_latency_seconds': {'buckets': dict((b, 0) for b in LATENCY_BUCKETS), 'sum': 0.0, 'count': 0},
        'received_by_day': {},
        'gate_log': {'inode': None, 'offset': 0},
    }


def _merge(base, value):
    """base with the values of value that have the same shape."""
    if not isinstance(value, dict):
        return base
    for key, default in base.items():
        if key not in value:
            continue
        got = value[key]
        if isinstance(default, dict):
            if key in ('refused', 'received_by_day', 'buckets'):
                if isinstance(got, dict):
                    merged = dict(default)
                    merged.update((k, v) for k, v in got.items() if isinstance(k, str) and isinstance(v, (int, float))
                                  and not isinstance(v, bool))
                    base[key] = merged
            else:
                base[key] = _merge(dict(default), got)
        elif default is None or isinstance(default, (int, float)) and not isinstance(default, bool):
            if got is None or isinstance(got, (int, float)) and not isinstance(got, bool):
                base[key] = got
    return base


def read_stats(log_dir, dir_fd=None):
    """The stats file as a dict (every key present), or None when there is none."""
    fd = dir_fd if dir_fd is not None else open_dir(log_dir)
    try:
        value = read_json(STATS, dir_fd=fd, limit=STATS_MAX)
    finally:
        if dir_fd is None:
            os.close(fd)
    if value is None:
        return None
    return _merge(empty_stats(), value)


def update_stats(log_dir, mutate, now=None):
    """Apply mutate(stats) to the stats file under its lock and rewrite it atomically."""
    fd = open_dir(log_dir)
    try:
        lock = os.open(STATS_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | O_CLOEXEC, 0o640, dir_fd=fd)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                stats = read_stats(log_dir, dir_fd=fd) or empty_stats()
            except ValueError:
                stats = empty_stats()  # a damaged file is replaced
            mutate(stats)
            stats['updated'] = time.time() if now is None else now
            write_atomic(fd, STATS, dumps(stats), mode=0o644, sync_dir=False)
            return stats
        finally:
            os.close(lock)
    finally:
        os.close(fd)


def observe_latency(stats, seconds):
    """Count one filing latency in the histogram (cumulative buckets, as Prometheus has them)."""
    histogram = stats['filing_latency_seconds']
    for bucket in LATENCY_BUCKETS:
        if bucket == '+Inf' or seconds <= float(bucket):
            histogram['buckets'][bucket] = histogram['buckets'].get(bucket, 0) + 1
    histogram['sum'] = round(histogram['sum'] + max(seconds, 0.0), 6)
    histogram['count'] += 1


def count_received(stats, when, instances):
    """Add instances to the UTC day of when; keep DAYS_KEPT days."""
    days = stats['received_by_day']
    day = time.strftime('%Y-%m-%d', time.gmtime(when))
    days[day] = days.get(day, 0) + instances
    for old in sorted(days)[:-DAYS_KEPT]:
        del days[old]


def check_aetitles(config):
    """The calling AE titles of the gateway's own checks (the role's verify step, the status playbook and
    the metrics writer send their C-ECHO with the settings' verify_calling_aetitle): their associations
    are counted apart and are no association of a sender."""
    title = config.get('verify_calling_aetitle')
    return frozenset([title.strip()]) if isinstance(title, str) and title.strip() else frozenset()


def count_gate_line(stats, line, checks=frozenset()):
    """Count one associations-log line; return its time (unix) or None. An accepted association whose
    calling AE title is one of checks (check_aetitles()) counts under associations.checks only."""
    fields = line.split()
    if len(fields) < 3:
        return None
    when = parse_utc(fields[0])
    associations = stats['associations']
    if fields[1] == 'accepted':
        calling = next((field[8:] for field in fields[3:] if field.startswith('calling=')), None)
        if calling is not None and calling in set(title.replace(' ', '_') for title in checks):
            associations['checks'] = associations.get('checks', 0) + 1
            return when
        associations['accepted'] += 1
        if when is not None and (stats['last_association_at'] or 0) < when:
            stats['last_association_at'] = when
    elif fields[1] == 'refused':
        reason = fields[2] if REASON_NAME.fullmatch(fields[2]) else 'other'
        associations['refused'][reason] = associations['refused'].get(reason, 0) + 1
    return when


UTC_TIME = re.compile(r'(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]00:?00)?')


def parse_utc(text):
    match = UTC_TIME.fullmatch(text)
    if not match:
        return None
    import calendar  # pylint: disable=import-outside-toplevel

    parts = [int(part) for part in match.groups()[:6]]
    try:
        return calendar.timegm(tuple(parts) + (0, 0, 0)) + float(match.group(7) or 0)
    except (ValueError, OverflowError):
        return None


# Health ------------------------------------------------------------------------------------------

class _Reader:
    """State of one health() reading."""

    def __init__(self, now, stranded_after, with_paths, limit, max_entries):
        self.now = now
        self.stranded_after = stranded_after
        self.with_paths = with_paths
        self.limit = limit
        self.budget = max_entries
        self.complete = True
        self.problems = []
        self.paths = {'stranded': [], 'queued': [], 'quarantined': [], 'receiving': []}

    def entries(self, dir_fd):
        """(name, DirEntry) of a directory by descriptor, within the entry budget."""
        with os.scandir(dir_fd) as it:
            for entry in it:
                if self.budget <= 0:
                    self.complete = False
                    return
                self.budget -= 1
                yield entry.name, entry

    def note(self, kind, path):
        if self.with_paths and len(self.paths[kind]) < self.limit:
            self.paths[kind].append(path)

    def problem(self, text, path=None):
        self.problems.append('%s: %s' % (text, path) if path and self.with_paths else text)


def _mtime(entry):
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return None


def _subdir(parent_fd, name):
    try:
        return open_dir(name, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def _all_entries(dir_fd):
    with os.scandir(dir_fd) as it:
        for entry in it:
            yield entry.name, entry


def newest_mtime(dir_fd, own_mtime, depth=1, entries=_all_entries):
    """The newest mtime of a directory, its entries and (down to depth) its subdirectories' entries;
    lstat only. entries(dir_fd) yields (name, DirEntry): the health reader's keeps to its budget."""
    newest = own_mtime or 0
    for _name, entry in entries(dir_fd):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        newest = max(newest, st.st_mtime)
        if depth > 0 and stat.S_ISDIR(st.st_mode):
            sub = _subdir(dir_fd, entry.name)
            if sub is not None:
                try:
                    newest = max(newest, newest_mtime(sub, st.st_mtime, depth - 1, entries))
                finally:
                    os.close(sub)
    return newest


def health(tmp_dir, log_dir, stranded_after=300, now=None, with_paths=False, limit=20,
           max_entries=MAX_ENTRIES):
    """What a sender's Success cannot tell, from the tmp tree and the stats file.

    Returns a dict: receiving, setting_up, queued, stranded (+ stranded_by_place), quarantined
    instances and associations with quarantine_reasons (counts by error class), filed_kept,
    oldest_pending_age (seconds), refuse and refuse_reason, last_association_at, stats (the stats
    file or None), problems, complete (False when max_entries entries were read before the end),
    and paths (only with with_paths). Stranded: queue entries not filed stranded_after seconds
    after their association ended, incoming dirs whose lock is free for as long, px-listen dirs
    without a record untouched for as long."""
    now = time.time() if now is None else now
    reader = _Reader(now, stranded_after, with_paths, limit, max_entries)
    result = {
        'version': VERSION, 'receiving': 0, 'setting_up': 0, 'queued': 0, 'stranded': 0,
        'stranded_by_place': {'incoming': 0, 'queue': 0, 'px-listen': 0},
        'quarantined_instances': 0, 'quarantined_associations': 0, 'quarantine_reasons': {},
        'filed_kept': 0, 'oldest_pending_age': None, 'refuse': False, 'refuse_reason': None,
        'last_association_at': None, 'stats': None,
    }
    pending = []
    try:
        tmp_fd = open_dir(tmp_dir)
    except OSError as exc:
        reader.problem('tmp dir not readable (%s)' % _errname(exc), tmp_dir)
        tmp_fd = None
    if tmp_fd is not None:
        try:
            _read_tmp(reader, tmp_fd, tmp_dir, result, pending)
        finally:
            os.close(tmp_fd)
    try:
        log_fd = open_dir(log_dir)
    except OSError as exc:
        reader.problem('log dir not readable (%s)' % _errname(exc), log_dir)
        log_fd = None
    if log_fd is not None:
        try:
            result['stats'] = read_stats(log_dir, dir_fd=log_fd)
        except (OSError, ValueError) as exc:
            reader.problem('stats file not readable (%s)' % _errname(exc))
        finally:
            os.close(log_fd)
    if result['stats']:
        last = result['stats'].get('last_association_at')
        if last is not None:
            result['last_association_at'] = max(last, result['last_association_at'] or 0)
    if pending:
        result['oldest_pending_age'] = round(max(0.0, now - min(pending)), 3)
    result['stranded'] = sum(result['stranded_by_place'].values())
    result['problems'] = reader.problems
    result['complete'] = reader.complete
    if with_paths:
        result['paths'] = reader.paths
    return result


def errname(exc):
    """An error's class for a message: its errno name, else its type (a ValueError's text)."""
    return _errname(exc)


def _errname(exc):
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__ if not isinstance(exc, ValueError) else str(exc)


def _read_tmp(reader, tmp_fd, tmp_dir, result, pending):
    # The refuse flag.
    try:
        flag = read_regular(REFUSE_FLAG, dir_fd=tmp_fd, limit=4096)
    except (OSError, ValueError) as exc:
        flag = b''
        reader.problem('refuse flag not readable (%s)' % _errname(exc))
        result['refuse'] = True
    if flag is not None:
        result['refuse'] = True
        result['refuse_reason'] = flag.decode('utf-8', 'replace').strip()[:500] or None

    for name, entry in reader.entries(tmp_fd):
        if not entry.is_dir(follow_symlinks=False):
            continue
        path = os.path.join(tmp_dir, name)
        if name == INCOMING:
            _read_incoming(reader, tmp_fd, path, result, pending)
        elif name == QUEUE:
            _read_queue(reader, tmp_fd, path, result, pending)
        elif name == FILED:
            _read_filed(reader, tmp_fd, result)
        elif name == QUARANTINE:
            _read_quarantine(reader, tmp_fd, path, result)
        elif PX_LISTEN_NAME.fullmatch(name):
            _read_px_listen(reader, tmp_fd, name, path, entry, result, pending)


def _association_dirs(reader, parent_fd, name):
    """(fd, [(name, entry)]) of tmp/name's association dirs; fd None if it cannot be opened."""
    fd = _subdir(parent_fd, name)
    if fd is None:
        return None, []
    return fd, [(n, e) for n, e in reader.entries(fd) if e.is_dir(follow_symlinks=False)]


def _read_incoming(reader, tmp_fd, path, result, pending):
    fd, dirs = _association_dirs(reader, tmp_fd, INCOMING)
    if fd is None:
        return
    try:
        for name, entry in dirs:
            if name.startswith(NEW_PREFIX):
                result['setting_up'] += 1
                continue
            if name.startswith('.'):
                continue
            sub = _subdir(fd, name)
            if sub is None:
                continue
            try:
                free = lock_is_free(sub)
            except OSError:
                free = True
            finally:
                os.close(sub)
            mtime = _mtime(entry)
            if mtime is not None:
                result['last_association_at'] = max(result['last_association_at'] or 0, mtime)
            if not free:
                result['receiving'] += 1
                reader.note('receiving', os.path.join(path, name))
                continue
            # Over, and not yet taken by the filer (which does so within a tenth of a second).
            _pending(reader, result, pending, 'incoming', os.path.join(path, name), mtime)
    finally:
        os.close(fd)


def _pending(reader, result, pending, place, path, mtime):
    result['queued'] += 1
    reader.note('queued', path)
    if mtime is None:
        return
    pending.append(mtime)
    if reader.now - mtime >= reader.stranded_after:
        result['stranded_by_place'][place] += 1
        reader.note('stranded', path)


def _read_queue(reader, tmp_fd, path, result, pending):
    fd, dirs = _association_dirs(reader, tmp_fd, QUEUE)
    if fd is None:
        return
    try:
        for name, entry in dirs:
            if not name.startswith('.'):
                _pending(reader, result, pending, 'queue', os.path.join(path, name), _mtime(entry))
    finally:
        os.close(fd)


def _read_filed(reader, tmp_fd, result):
    fd = _subdir(tmp_fd, FILED)
    if fd is None:
        return
    try:
        for name, entry in reader.entries(fd):
            if not name.startswith('.') and entry.is_dir(follow_symlinks=False):
                result['filed_kept'] += 1
    finally:
        os.close(fd)


def _read_quarantine(reader, tmp_fd, path, result):
    fd, dirs = _association_dirs(reader, tmp_fd, QUARANTINE)
    if fd is None:
        return
    reasons = result['quarantine_reasons']
    read = 0
    try:
        for name, _entry in dirs:
            sub = _subdir(fd, name)
            if sub is None:
                continue
            instances = 0
            try:
                for file_name, file_entry in reader.entries(sub):
                    if not file_name.endswith(REASON_SUFFIX) or not file_entry.is_file(follow_symlinks=False):
                        continue
                    instances += 1
                    kind = 'unread'
                    if read < MAX_REASONS:
                        read += 1
                        try:
                            kind = reason_class(read_json(file_name, dir_fd=sub, limit=4096))
                        except (OSError, ValueError):
                            kind = 'unreadable-reason'
                    reasons[kind] = reasons.get(kind, 0) + 1
            finally:
                os.close(sub)
            if instances:
                result['quarantined_associations'] += 1
                result['quarantined_instances'] += instances
                reader.note('quarantined', os.path.join(path, name))
    finally:
        os.close(fd)


def reason_class(reason):
    """The error class of a quarantine reason: its errno name, or its class field."""
    reason = reason or {}
    for key in ('errno', 'class'):
        value = reason.get(key)
        if isinstance(value, str) and REASON_NAME.fullmatch(value.lower()):
            return value
    return 'other'


def _read_px_listen(reader, tmp_fd, name, path, entry, result, pending):
    sub = _subdir(tmp_fd, name)
    if sub is None:
        return
    try:
        try:
            has_record = os.stat(RECORD, dir_fd=sub, follow_symlinks=False)
        except OSError:
            has_record = None
        if has_record is not None:
            result['filed_kept'] += 1
            return
        try:
            free = lock_is_free(sub)
        except OSError:
            free = True
        if not free:
            result['receiving'] += 1
            reader.note('receiving', path)
            return
        newest = newest_mtime(sub, _mtime(entry), entries=reader.entries)
        result['last_association_at'] = max(result['last_association_at'] or 0, newest)
        _pending(reader, result, pending, 'px-listen', path, newest)
    finally:
        os.close(sub)
