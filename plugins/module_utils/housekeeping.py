# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Housekeeping of a listener's tmp and log dirs (a timer or cron job, as the listener user).

    python -m pacsgate_listener.housekeeping --config /etc/pacsgate/<service>.json [--dry-run] [--json]

1. A filer pass first (what ``filer --once`` does), so nothing waits for a person when the filer
   is down.
2. Removes ``<tmp>/filed/<id>`` (and px-listen's ``<tmp>/<uuid>`` dirs that have a record) once
   older than ``min_age_hours``, but only after checking again that every file the record says was
   filed (``filed_as``) still has the recorded size and sha256, and that every received file in the
   dir is one the record accounts for (in its files, with the recorded size, or its quarantine); a
   mismatch keeps the dir and is reported as changed since filing (the filer files a px-listen dir
   again when px-listen received more after it was filed). A dir without a record is kept, and so
   is one whose ``.lock`` is held (px-listen still receiving or filing, the filer filing it); the
   lock is held while the dir is removed, and the removal itself unlinks only received files the
   record accounts for, so a file received meanwhile keeps its dir.
3. Rotates ``listen.run.log``, ``associations.log`` and ``filer.log`` (renamed to ``.1`` ...
   ``.<log_keep>``) above ``log_max_mb``, deletes px-listen's ``out-*.txt`` and ``err-*.txt`` older
   than ``log_retention_days``, and removes map files (``<log>/{patient,study,series}_map/*.json``)
   whose target directory in the data dir no longer exists.

It never touches quarantine, queue, incoming or anything in the data dir (which it only reads),
never deletes anything received that has not been filed and verified, and follows no symlink:
directories are opened with O_NOFOLLOW relative to their parent's descriptor and judged by lstat,
filed files are opened component by component from the data dir the same way, and a dir is removed
entry by entry through descriptors (a symlink inside is unlinked, never followed). It walks nothing
recursively except one association dir at a time. Its output holds counts only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import errno
import hashlib
import json
import os
import stat
import sys
import time

from . import records

ROTATED_LOGS = ('listen.run.log', records.GATE_LOG, 'filer.log')
MAP_DIRS = ('patient_map', 'study_map', 'series_map')
PX_LISTEN_LOG_PREFIXES = ('out-', 'err-')


def _summary():
    return {'filer_pass': None, 'removed': 0, 'kept_recent': 0, 'kept_changed': 0, 'kept_unrecorded': 0,
            'kept_in_use': 0, 'logs_rotated': 0, 'px_listen_logs_deleted': 0, 'maps_removed': 0}


def run(config, now=None, dry_run=False, file_first=True, log=None):
    """Housekeeping as the module docstring says; returns a summary of counts."""
    now = time.time() if now is None else now
    log = log or (lambda text: None)
    summary = _summary()
    if file_first and not dry_run:
        summary['filer_pass'] = _filer_pass(config, log)
    min_age = 3600 * config['min_age_hours']
    tmp_fd = records.open_dir(config['tmp_dir'])
    data_fd = records.open_dir(config['data_dir'])
    try:
        filed_fd = _subdir(tmp_fd, records.FILED)
        if filed_fd is not None:
            try:
                for name in _dir_names(filed_fd, records.ASSOCIATION_NAME):
                    _sweep(summary, filed_fd, name, data_fd, now, min_age, dry_run)
            finally:
                os.close(filed_fd)
        for name in _dir_names(tmp_fd, records.PX_LISTEN_NAME):
            _sweep(summary, tmp_fd, name, data_fd, now, min_age, dry_run, px_listen=True)
    finally:
        os.close(tmp_fd)
        os.close(data_fd)
    log_fd = records.open_dir(config['log_dir'])
    try:
        _rotate(summary, log_fd, 1024 * 1024 * config['log_max_mb'], config['log_keep'], dry_run)
        _expire_px_listen_logs(summary, log_fd, now - 86400 * config['log_retention_days'], dry_run)
        _prune_maps(summary, log_fd, config['data_dir'], dry_run)
    finally:
        os.close(log_fd)
    # What is left for a person to look at: counts from the health reader.
    health = records.health(config['tmp_dir'], config['log_dir'], stranded_after=60 * config['refile_after_minutes'],
                            now=time.time())
    for key in ('queued', 'stranded', 'quarantined_instances'):
        summary[key] = health[key]
    return summary


def _filer_pass(config, log):
    from . import filer  # pylint: disable=import-outside-toplevel

    try:
        filer.pypx_listen()
        return 'done' if filer.Filer(config, log=log).run_once() == 0 else 'retries pending'
    except (ImportError, OSError) as exc:
        log('filer pass not run: %s' % filer.error_class(exc))
        return 'failed'


def _subdir(parent_fd, name):
    try:
        return records.open_dir(name, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def _dir_names(dir_fd, pattern):
    with os.scandir(dir_fd) as it:
        return sorted(entry.name for entry in it
                      if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False))


def _sweep(summary, parent_fd, name, data_fd, now, min_age, dry_run, px_listen=False):
    fd = _subdir(parent_fd, name)
    if fd is None:
        return
    lock_fd = None
    try:
        try:
            lock_fd, state = records.lock_state(fd)
        except OSError:
            state = 'busy'  # a .lock that is not a regular file: leave the dir to a person
        if state == 'busy':
            summary['kept_in_use'] += 1
            return
        try:
            record = records.read_record(fd)
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get('files'), list):
            if not px_listen:
                summary['kept_unrecorded'] += 1
            return
        filed_at = record.get('filed_at')
        newest = os.fstat(fd).st_mtime
        if isinstance(filed_at, (int, float)) and not isinstance(filed_at, bool):
            newest = max(newest, filed_at)
        if now - newest < min_age:
            summary['kept_recent'] += 1
            return
        if not verify_record(record, data_fd) or records.unrecorded(records.received_files(fd, px_listen), record):
            summary['kept_changed'] += 1
            return
        if not dry_run and not remove_association(parent_fd, name, fd, record, px_listen):
            summary['kept_changed'] += 1  # received meanwhile: what the record accounts for is gone, the rest kept
            return
        summary['removed'] += 1
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
        os.close(fd)


def verify_record(record, data_fd):
    """True when every file of a record still has its recorded size and sha256 under the data dir."""
    dirs = {}
    try:
        for entry in record['files']:
            if not isinstance(entry, dict) or entry.get('superseded'):
                continue
            if not _same(entry, data_fd, dirs):
                return False
        return True
    finally:
        for fd in dirs.values():
            os.close(fd)


def _parts(relative):
    if not isinstance(relative, str) or relative.startswith('/') or '\0' in relative:
        return None
    parts = relative.split('/')
    if any(part in ('', '.', '..') for part in parts):
        return None
    return parts


def _same(entry, data_fd, dirs):
    parts = _parts(entry.get('filed_as'))
    size, digest = entry.get('size'), entry.get('sha256')
    if parts is None or not isinstance(size, int) or not isinstance(digest, str):
        return False
    parent = data_fd
    for depth in range(1, len(parts)):
        key = '/'.join(parts[:depth])
        fd = dirs.get(key)
        if fd is None:
            try:
                fd = records.open_dir(parts[depth - 1], dir_fd=parent)
            except OSError:
                return False
            dirs[key] = fd
        parent = fd
    try:
        fd = os.open(parts[-1], records.READ_FLAGS, dir_fd=parent)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return False
        sha = hashlib.sha256()
        while True:
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                break
            sha.update(chunk)
        return sha.hexdigest() == digest
    finally:
        os.close(fd)


def remove_association(parent_fd, name, fd, record, px_listen):
    """Remove the association dir parent/name (open as fd) entry by entry, except received files its
    record does not account for (records.unrecorded): those, the record and the dir stay. True when
    the dir is gone. Dot entries and what is not a received file (px-listen's debug.log, symlinks)
    go; nothing is followed."""
    recorded = records.recorded_files(record)
    if _remove_received(fd, '', 0, recorded, px_listen):
        return False
    try:
        os.unlink(records.RECORD, dir_fd=fd)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    return True


def _remove_received(fd, prefix, depth, recorded, px_listen):
    """Remove the entries of an association dir (or one of its subdirs) but the received files not
    recorded and the record; return how many entries stay."""
    with os.scandir(fd) as it:
        entries = list(it)
    kept = 0
    missing = object()
    for entry in entries:
        if depth == 0 and entry.name == records.RECORD:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if entry.name.startswith('.'):
            if stat.S_ISDIR(st.st_mode):
                remove_tree(fd, entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
        elif stat.S_ISDIR(st.st_mode):
            sub = _subdir(fd, entry.name)
            if sub is None:
                continue
            try:
                left = _remove_received(sub, prefix + entry.name + '/', depth + 1, recorded, px_listen)
            finally:
                os.close(sub)
            if left:
                kept += 1
                continue
            try:
                os.rmdir(entry.name, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                kept += 1
        elif stat.S_ISREG(st.st_mode) and (depth > 0 or not px_listen):
            size = recorded.get(prefix + entry.name, missing)
            if size is missing or size is not None and size != st.st_size:
                kept += 1
            else:
                os.unlink(entry.name, dir_fd=fd)
        else:
            os.unlink(entry.name, dir_fd=fd)
    return kept


def remove_tree(parent_fd, name):
    """Remove parent/name entry by entry through descriptors; a symlink is unlinked, not followed."""
    try:
        fd = records.open_dir(name, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            os.unlink(name, dir_fd=parent_fd)  # not a directory (any more): remove the entry itself
            return
        raise
    try:
        with os.scandir(fd) as it:
            entries = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in it]
        for entry, is_dir in entries:
            if is_dir:
                remove_tree(fd, entry)
            else:
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def _regular(dir_fd, name):
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _rotate(summary, log_fd, max_bytes, keep, dry_run):
    for name in ROTATED_LOGS:
        st = _regular(log_fd, name)
        if st is None or st.st_size <= max_bytes:
            continue
        summary['logs_rotated'] += 1
        if dry_run:
            continue
        for number in range(keep - 1, 0, -1):
            older = '%s.%d' % (name, number)
            if _regular(log_fd, older) is not None:
                os.rename(older, '%s.%d' % (name, number + 1), src_dir_fd=log_fd, dst_dir_fd=log_fd)
        os.rename(name, name + '.1', src_dir_fd=log_fd, dst_dir_fd=log_fd)


def _expire_px_listen_logs(summary, log_fd, before, dry_run):
    with os.scandir(log_fd) as it:
        names = [entry.name for entry in it if entry.name.startswith(PX_LISTEN_LOG_PREFIXES) and entry.name.endswith('.txt')]
    for name in names:
        st = _regular(log_fd, name)
        if st is None or st.st_mtime >= before:
            continue
        if not dry_run:
            os.unlink(name, dir_fd=log_fd)
        summary['px_listen_logs_deleted'] += 1


def _prune_maps(summary, log_fd, data_dir, dry_run):
    """Remove map files whose target directory (in the data dir) no longer exists."""
    data_fd = records.open_dir(data_dir)
    prefix = data_dir.rstrip('/') + '/'
    try:
        for map_dir in MAP_DIRS:
            fd = _subdir(log_fd, map_dir)
            if fd is None:
                continue
            try:
                with os.scandir(fd) as it:
                    names = [entry.name for entry in it if entry.name.endswith('.json') and entry.is_file(follow_symlinks=False)]
                for name in names:
                    try:
                        mapping = records.read_json(name, dir_fd=fd, limit=64 * 1024)
                    except (OSError, ValueError):
                        continue
                    targets = list((mapping or {}).values())
                    if len(targets) != 1 or not isinstance(targets[0], str) or not targets[0].startswith(prefix):
                        continue
                    if _gone(data_fd, targets[0][len(prefix):]):
                        if not dry_run:
                            os.unlink(name, dir_fd=fd)
                        summary['maps_removed'] += 1
            finally:
                os.close(fd)
    finally:
        os.close(data_fd)


def _gone(data_fd, relative):
    """True only when a component of the path does not exist (a symlink or an error says nothing)."""
    parts = _parts(relative.rstrip('/'))
    if parts is None:
        return False
    parent, opened = data_fd, []
    try:
        for part in parts:
            try:
                parent = records.open_dir(part, dir_fd=parent)
            except OSError as exc:
                return exc.errno == errno.ENOENT
            opened.append(parent)
        return False
    finally:
        for fd in opened:
            os.close(fd)


def describe(summary, dry_run=False):
    verb = 'would remove' if dry_run else 'removed'
    return ('housekeeping: %s %d filed association dir(s); kept %d recent, %d changed since filing, %d without a record, '
            '%d in use; logs rotated %d; px-listen logs deleted %d; map files removed %d; filer pass %s; '
            'waiting to be filed %d (stranded %d); instances in quarantine %d'
            % (verb, summary['removed'], summary['kept_recent'], summary['kept_changed'], summary['kept_unrecorded'],
               summary['kept_in_use'], summary['logs_rotated'], summary['px_listen_logs_deleted'], summary['maps_removed'],
               summary['filer_pass'] or 'not run', summary['queued'], summary['stranded'], summary['quarantined_instances']))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m pacsgate_listener.housekeeping', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--config', required=True, help='/etc/pacsgate/<service>.json')
    parser.add_argument('--dry-run', action='store_true', help='say what would be done, change nothing')
    parser.add_argument('--no-filer-pass', action='store_true', help='skip the filer pass')
    parser.add_argument('--json', action='store_true', help='print the summary as JSON')
    args = parser.parse_args(argv)
    try:
        config = records.load_config(args.config)
    except (OSError, ValueError) as exc:
        sys.stderr.write('housekeeping: configuration %s: %s\n' % (args.config, exc))
        return 2

    def log(text):
        sys.stdout.write('housekeeping: %s\n' % text)

    try:
        summary = run(config, dry_run=args.dry_run, file_first=not args.no_filer_pass, log=log)
    except OSError as exc:
        sys.stderr.write('housekeeping: %s\n' % errno.errorcode.get(exc.errno, type(exc).__name__))
        return 1
    sys.stdout.write((json.dumps(summary, sort_keys=True) if args.json else describe(summary, args.dry_run)) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
