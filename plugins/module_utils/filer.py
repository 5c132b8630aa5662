# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filer: files what storescp received into pypx's patient/study/series tree, with pypx's code.

    python -m pacsgate_listener.filer --config /etc/pacsgate/<service>.json [--once] [--log-file]

A persistent service (run as the listener user) that polls every 0.1 s: an association dir in
``<tmp>/incoming`` whose ``.lock`` it can flock is over (storescp held that lock for its life), so
it is renamed to ``<tmp>/queue`` and filed while the filer holds the lock; queue entries left by a
crash or waiting for a retry are filed too, and px-listen's own association dirs (``<tmp>/<uuid4>``,
px-listen mode) without a record, or with received files their record does not account for, once
untouched for ``refile_after_minutes`` and unlocked are verified or filed in place (again).
``--once`` does one such pass over everything present and exits (housekeeping and the role's
``refile`` tag run it): 0 when nothing is left waiting, 1 otherwise.

Where an instance goes is computed by pypx's own code: an instance of ``pypx.listen.Listen``
made without its ``__init__`` (which would create a uuid dir and a log), whose ``processPatient``,
``processStudy`` and ``processSeries`` make the directories, write the map files and return the
info objects, exactly as px-listen calls them (once per series and association: their effects are
idempotent). Changed in how pypx's code runs, on purpose:

* ``saveInformation`` and ``mapFile_save`` write atomically (temp file, fsync, rename), and, as in
  pypx, only when the file is missing;
* ``mkdir`` raises the OSError itself (pypx writes it to ``err-<uuid>.txt``, with the path, and
  raises NameError), so a full disk is told from a name too long for the file system;
* ``processImage`` only names the file (``pypx.utils.dataPath``); the copy is the filer's: into
  ``<series>/.<name>.<tag>.pacsgate-tmp`` (tag: 8 hex digits of the sha256 of the association id,
  so that associations filing one instance at once never touch each other's copy; a filing removes
  its own leftovers, and those of any association older than an hour that no filer holds) while
  hashing (sha256), one ``syncfs`` of the data file system per association, a rename to the final
  name, an fsync of each series dir, and a check that the final file has the received file's size
  and hash. A final file that exists with the same content is left alone; with other content (a
  truncated earlier copy, a corrected resend) it is replaced by the received copy, which is known
  complete (counted ``replaced``), unless it is complete and was received later than this copy
  (filed copies keep their received file's time, as pypx's shutil.copy2 gives them): associations
  filed out of order never put an older copy over a newer one, the older is recorded as superseded
  and counted (``instances_superseded`` in the stats);
* pypx's per-association log of patient data (``out-<uuid>.txt``) is not written;
* an instance without a SOP Instance UID is quarantined instead of filed as "no value provided".

``receiving.series`` is written when missing and renamed to ``series.info`` once the association
is filed, as px-listen does, both under an flock of the series dir.

Errors: ENOSPC, EDQUOT, EROFS, EIO, EACCES, EPERM (and anything unexpected) keep the association
queued; it is retried after 10 s, the wait doubling up to 5 min. ENAMETOOLONG, EINVAL, unreadable
or truncated data and a missing SOP Instance UID move that instance alone to
``<tmp>/quarantine/<id>/`` with ``<file>.reason.json``. Every received file is checked to its end
(dicomheader.read_complete, on the bytes already read to copy it): storescp writes each file
completely before it acknowledges it, so a file cut short is the one being received when the
association ended (among the newest by mtime: "never acknowledged"), or was damaged later; it is
quarantined, never filed, and never replaces a filed copy. A file whose completeness cannot be told
is quarantined as "cannot be verified complete: <why>". When every instance is filed or
quarantined, ``.pacsgate-record.json`` is written into the association dir and the dir renamed to
``<tmp>/filed/<id>``.

Also: the refuse flag (``<tmp>/.pacsgate-refuse``) is created when free space on the tmp or data
file system is below ``min_free_mb`` and removed at 10 % above it; the associations log is tailed
to count accepted and refused associations in the stats file. Log lines (stdout, or
``<log>/filer.log`` with ``--log-file``) hold association ids, counts, seconds and error classes,
never patient data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import errno
import hashlib
import io
import json
import os
import queue
import signal
import stat
import sys
import threading
import time

from concurrent.futures import ThreadPoolExecutor

from . import dicomheader
from . import px_listen_lean
from . import records

NOT_FILEABLE = frozenset((errno.ENAMETOOLONG, errno.EINVAL))
RETRY_FIRST = 10.0
RETRY_MAX = 300.0
POLL = 0.1
HOUSEKEEPING_EVERY = 1.0
PX_LISTEN_EVERY = 5.0
PX_LISTEN_RECHECK_EVERY = 60.0
NEW_DIR_MAX_AGE = 3600
STALE_TEMP_AGE = 3600
WHOLE_READ = 4 * 1024 * 1024
CHUNK = 1024 * 1024
TEMP_SUFFIX = '.pacsgate-tmp'
O_CLOEXEC = records.O_CLOEXEC
NO_VALUE = 'no value provided'
TRUNCATED_NEWEST = 'truncated (never acknowledged: the association ended while it was being received)'
TRUNCATED_OTHER = 'truncated: the file ends inside a data element'
UNVERIFIABLE = 'cannot be verified complete: %s'
LEVELS = ('patient', 'study', 'series')


class Transient(Exception):
    """Filing cannot go on now (full disk, I/O error...): keep the association and retry."""

    def __init__(self, what, cause):
        Exception.__init__(self, what)
        self.what = what
        self.cause = cause

    def describe(self):
        return '%s: %s' % (self.what, error_class(self.cause))


class Unfileable(Exception):
    """This instance cannot be filed: quarantine it with this reason."""

    def __init__(self, reason, kind, errno_name=None):
        Exception.__init__(self, reason)
        self.reason = reason
        self.kind = kind
        self.errno_name = errno_name


def error_class(exc):
    """An exception's errno name or class name: what log lines say instead of its message."""
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, 'errno %d' % exc.errno)
    return type(exc).__name__


# pypx, imported lean -------------------------------------------------------------------------------

_PYPX = {}
_PYPX_LOCK = threading.Lock()


def pypx_listen():
    """pypx.listen, without running pypx/__init__.py or pfmisc/__init__.py (which import every pypx
    subcommand: aiohttp, dask, swift clients...) and with pudb deferred, with the lean px-listen
    launcher's own functions (px_listen_lean.bare_package, deferred_debugger). A pypx already
    imported in full is used as it is."""
    with _PYPX_LOCK:
        if 'module' in _PYPX:
            return _PYPX['module']
        import importlib  # pylint: disable=import-outside-toplevel

        module = sys.modules.get('pypx.listen')
        if module is None:
            for name in ('pypx', 'pfmisc'):
                if name not in sys.modules:
                    px_listen_lean.bare_package(name)
            for name in ('pudb', 'pudb.remote'):
                if name not in sys.modules:
                    sys.modules[name] = px_listen_lean.deferred_debugger(name)
            module = importlib.import_module('pypx.listen')
        _PYPX['module'] = module
        _PYPX['utils'] = importlib.import_module('pypx.utils')
        _PYPX['class'] = _filing_listen(module.Listen)
        return module


class _NoLog:
    """Where pypx's Listen writes its per-association log of patient data: nowhere."""

    def write(self, _text):
        return 0


NO_LOG = _NoLog()


def _filing_listen(base):
    """pypx's Listen with the changes the module docstring lists."""

    class FilingListen(base):  # pylint: disable=too-few-public-methods
        """pypx.listen.Listen, made without __init__ (see new_listen())."""

        def mkdir(self, path, log_file):  # pylint: disable=unused-argument
            try:
                os.makedirs(path)
            except OSError as exc:
                if exc.errno != errno.EEXIST or not os.path.isdir(path):
                    raise

        def saveInformation(self, path, info):  # pylint: disable=invalid-name
            if not os.path.exists(path):
                text = io.StringIO()
                info.write(text)
                _write_file(path, text.getvalue().encode('utf-8'))

        def mapFile_save(self, ad_json, astr_mapFile):  # pylint: disable=invalid-name
            if os.path.exists(astr_mapFile):
                return False
            _write_file(astr_mapFile, json.dumps(ad_json).encode('utf-8'))
            return True

        def processImage(self, dcm_info, log_file, error_file, series_directory, tmp_file):  # pylint: disable=invalid-name
            """The path pypx files the instance as (the copy is the filer's)."""
            image_uid = self.image_uid if self.image_uid is not None else self.processDicomField(dcm_info, 'SOPInstanceUID')
            image_instance_number = self.processDicomField(dcm_info, 'InstanceNumber')
            return _PYPX['utils'].dataPath(series_directory, image_instance_number, image_uid)

    return FilingListen


def new_listen(data_dir, log_dir):
    """A pypx Listen set up for filing into data_dir, its map files in log_dir, without __init__."""
    pypx_listen()
    listen = _PYPX['class'].__new__(_PYPX['class'])
    listen.__name__ = 'Listen'
    listen.tmp_directory = None
    listen.log_directory = log_dir
    listen.data_directory = data_dir
    listen.executable = None
    listen.series_mapDir = os.path.join(log_dir, 'series_map')
    listen.study_mapDir = os.path.join(log_dir, 'study_map')
    listen.patient_mapDir = os.path.join(log_dir, 'patient_map')
    listen.log_error = os.devnull
    listen.log_output = os.devnull
    listen.image_uid = None  # the filer's: processDicomField(SOPInstanceUID), already computed
    for path in (listen.series_mapDir, listen.study_mapDir, listen.patient_mapDir):
        listen.mkdir(path, None)
    return listen


def _write_file(path, data, mode=0o644):
    """Write a small file atomically (temp, fsync, rename), relative to its directory."""
    parent, name = os.path.split(path)
    fd = records.open_dir(parent or '.')
    try:
        records.write_atomic(fd, name, data, mode=mode, sync_dir=False)
    finally:
        os.close(fd)


# syncfs -----------------------------------------------------------------------------------------

_SYNCFS = {}


def syncfs(fd):
    """Flush the file system holding fd (one call for a whole association); os.sync() without syncfs."""
    if 'call' not in _SYNCFS:
        call = None
        try:
            import ctypes  # pylint: disable=import-outside-toplevel

            libc = ctypes.CDLL(None, use_errno=True)
            call = libc.syncfs
            call.argtypes = [ctypes.c_int]
            _SYNCFS['errno'] = ctypes.get_errno
        except (ImportError, OSError, AttributeError):
            call = None
        _SYNCFS['call'] = call
    call = _SYNCFS['call']
    if call is None:
        os.sync()
        return
    if call(fd) != 0:
        code = _SYNCFS['errno']()
        raise OSError(code, os.strerror(code))


# One association ---------------------------------------------------------------------------------

class Received:
    """One received file and what happens to it."""

    __slots__ = ('name', 'size', 'mtime', 'sha256', 'filed_as', 'final', 'temp', 'status', 'series',
                 'reason', 'superseded', 'complete', 'seen')

    def __init__(self, name, size, mtime):
        self.name = name            # relative to the association dir
        self.size = size
        self.mtime = mtime
        self.sha256 = None
        self.filed_as = None        # relative to the data dir
        self.final = None           # absolute path
        self.temp = None            # absolute path of the staged copy
        self.status = None          # 'new', 'present', 'replaced', 'quarantined'
        self.series = None
        self.reason = None
        self.superseded = False
        self.complete = False       # checked to its end: every element ends within it, the last at its end
        self.seen = None            # (size, sha256) of the filed copy when it was staged, None if none


class SeriesDir:
    __slots__ = ('path', 'fd', 'receiving', 'names')

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.receiving = os.path.join(path, 'receiving.series')
        self.names = None           # what the dir held when first filed into by this association

    def holds(self, name):
        """Whether the dir held name when this association first filed into it (Association._list_series)."""
        return name in self.names


def list_received(dir_fd, px_listen):
    """The received files of an association dir (records.received_files()): Received objects, oldest first."""
    return [Received(name, st.st_size, st.st_mtime_ns) for name, st in records.received_files(dir_fd, px_listen)]


def _read_received(dir_fd, item):
    """(bytes-like content, fd to close or None, mmap or None) of a received file."""
    fd = os.open(item.name, records.READ_FLAGS, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unfileable('not a regular file', 'unreadable')
        item.size = st.st_size
        item.mtime = st.st_mtime_ns
        if st.st_size <= WHOLE_READ:
            chunks, size = [], 0
            while True:
                chunk = os.read(fd, max(st.st_size - size, 0) + 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = chunks[0] if len(chunks) == 1 else b''.join(chunks)
            item.size = len(data)
            return data, st
        import mmap  # pylint: disable=import-outside-toplevel

        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ), st
    finally:
        os.close(fd)


def _hash(data):
    digest = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        digest.update(view[start:start + CHUNK])
    return digest.hexdigest()


def _hash_file(path):
    """(size, sha256) of a file, not following a symlink at its end; None when it does not exist."""
    try:
        fd = os.open(path, records.READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return (-1, '')
        digest, size = hashlib.sha256(), 0
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()
    finally:
        os.close(fd)


def _replaceable(path, received_mtime_ns, received_complete):
    """Whether a filed copy with other content may be replaced by a copy received at received_mtime_ns.

    Only a received copy known to be complete (received_complete: checked to its end) ever replaces
    a filed file. Filed copies carry their received file's time (as shutil.copy2 in pypx gives them):
    one that is newer and complete stays. One cut short (a copy interrupted by a full disk, written
    later than it was received) is replaced whatever its time."""
    if not received_complete:
        return False
    try:
        fd = os.open(path, records.READ_FLAGS)
    except OSError:
        return True
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_mtime_ns <= received_mtime_ns:
            return True
        import mmap  # pylint: disable=import-outside-toplevel

        if st.st_size == 0:
            return True
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
            try:
                dicomheader.completeness(data)
            except dicomheader.Truncated:
                return True
            except Exception:  # pylint: disable=broad-except
                # Unsupported, or what a hostile filed copy raises (RecursionError on nesting):
                # its completeness cannot be told, so it is not replaced, as with Unsupported.
                return False
        return False
    finally:
        os.close(fd)


def staging_tag(association):
    """What the staged copies of an association carry in their names: 8 hex digits of its id's sha256."""
    return hashlib.sha256(association.encode('utf-8', 'surrogateescape')).hexdigest()[:8]


def temp_name(final_name, tag, name_max=255):
    """The staged copy's name of final_name for the association tagged tag: a dot file (never pypx's
    NNNNN-<UID>.dcm) of its own, so that two associations filing one instance at once never write
    into, rename or remove each other's copy."""
    name = '.%s.%s%s' % (final_name, tag, TEMP_SUFFIX)
    if len(name.encode('utf-8', 'surrogateescape')) > name_max:
        digest = hashlib.sha256(final_name.encode('utf-8', 'surrogateescape')).hexdigest()[:40]
        name = '.%s.%s%s' % (digest, tag, TEMP_SUFFIX)
    return name


def temp_tag(name):
    """The association tag of a staged copy's name (temp_name()), or None (an older filer's name)."""
    end = len(name) - len(TEMP_SUFFIX)
    tag = name[end - 8:end]
    if name.endswith(TEMP_SUFFIX) and end >= 9 and name[end - 9] == '.' and all(c in '0123456789abcdef' for c in tag):
        return tag
    return None


class Association:
    """Filing one association dir (whose lock the caller holds)."""

    def __init__(self, filer, name, dir_fd, receiver, ended_at):
        self.filer = filer
        self.name = name
        self.dir_fd = dir_fd
        self.receiver = receiver
        self.ended_at = ended_at
        self.items = []
        self.series = {}            # key -> SeriesDir
        self.series_paths = {}      # series dir path -> SeriesDir (keys differ in raw bytes, one dir)
        self.staged = {}            # final path -> Received
        self.listen = None
        self.writer = _Writer(self._write_temp)
        self.tag = staging_tag(name)

    # staging -----------------------------------------------------------------------------------

    def file(self):
        """File every instance; return the record (not yet written)."""
        filer = self.filer
        self.listen = new_listen(filer.data_dir, filer.log_dir)
        self.items = list_received(self.dir_fd, self.receiver == 'px-listen')
        # The newest files (ties included: file systems keep times in ticks of a few ms): the one
        # being received when the association ended, if it was cut short, is among them.
        newest = self.items[-1].mtime if self.items else None
        try:
            for item in self.items:
                self._stage(item, item.mtime == newest)
            self._finish_writes()
            if any(item.temp for item in self.items):
                self._sync()
            self._commit()
            self._verify()
        except BaseException:
            self.writer.finish()
            self._discard_temps()
            raise
        finally:
            for series in self.series.values():
                if series.fd is not None:
                    os.close(series.fd)
                    series.fd = None
        self._quarantine()
        return self._record()

    def _stage(self, item, newest):
        try:
            data, st = _read_received(self.dir_fd, item)
        except Unfileable as exc:
            item.status, item.reason = 'quarantined', exc
            return
        except OSError as exc:
            raise Transient('reading a received file', exc)
        try:
            self._stage_data(item, data, st, newest)
        except Unfileable as exc:
            item.status, item.reason = 'quarantined', exc
        finally:
            if not isinstance(data, bytes):
                data.close()

    def _stage_data(self, item, data, st, newest):
        # The header, and every file checked to its end: a copy cut short is never filed, and never
        # replaces a filed one.
        try:
            dataset, _how = dicomheader.read_complete(data)
        except dicomheader.Truncated:
            raise Unfileable(TRUNCATED_NEWEST if newest else TRUNCATED_OTHER, 'truncated')
        except dicomheader.Unsupported as exc:
            raise Unfileable(UNVERIFIABLE % exc, 'unverifiable')
        except Exception as exc:  # pylint: disable=broad-except
            raise Unfileable('unreadable: %s' % error_class(exc), 'unreadable')
        item.complete = True
        listen = self.listen
        try:
            uid = listen.processDicomField(dataset, 'SOPInstanceUID')
        except Exception as exc:  # pylint: disable=broad-except
            raise Unfileable('unreadable: %s' % error_class(exc), 'unreadable')
        if uid == NO_VALUE:
            raise Unfileable('no SOP Instance UID', 'no-sop-instance-uid')
        item.sha256 = _hash(data)
        try:
            series = self._series_dir(dataset)
            item.series = series
            listen.image_uid = uid
            try:
                final = listen.processImage(dataset, NO_LOG, None, series.path, item.name)
            finally:
                listen.image_uid = None
        except (Transient, Unfileable):
            raise
        except Exception as exc:  # pylint: disable=broad-except
            # What pypx's code raises for this instance's values would be raised again on every retry.
            raise Unfileable('pypx cannot file it: %s' % error_class(exc), 'unfileable')
        self._check_name(final, 'file')
        item.final = final
        item.filed_as = final[len(self.filer.data_dir) + 1:] if final.startswith(self.filer.data_dir + os.sep) \
            else os.path.relpath(final, self.filer.data_dir)
        earlier = self.staged.get(final)
        if earlier is not None:
            # Received twice in one association: the newer copy is filed.
            earlier.superseded = True
            self.writer.drain()
            if earlier.temp:
                self._unlink(earlier.temp)
                earlier.temp = None
        self.staged[final] = item
        final_name = os.path.basename(final)
        temp = temp_name(final_name, self.tag, self.filer.name_max)
        try:
            if series.names is None:
                self._list_series(series)
            existing = _hash_file(final) if series.holds(final_name) else None
        except OSError as exc:
            raise Transient('reading a filed instance', exc)
        if existing == (item.size, item.sha256):
            item.status = 'present'
            return
        if existing is not None and not _replaceable(final, item.mtime, item.complete):
            # A copy received later than this one is filed already (associations filed out of order).
            item.status, item.superseded = 'older', True
            return
        item.status = 'new' if existing is None else 'replaced'
        item.seen = existing
        item.temp = os.path.join(series.path, temp)
        if isinstance(data, bytes):
            self.writer.put(item, data, st)
        else:
            self._write_temp(item, data, st)  # mapped: closed when _stage returns

    def _finish_writes(self):
        for item, exc in self.writer.finish():
            if isinstance(exc, Unfileable):
                item.status, item.reason = 'quarantined', exc
            else:
                raise exc

    def _write_temp(self, item, data, st):
        try:
            fd = os.open(item.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | O_CLOEXEC, 0o600)
        except OSError as exc:
            temp, item.temp = item.temp, None
            if exc.errno in NOT_FILEABLE:
                raise Unfileable(self._name_reason(temp, 'file', exc), 'name', error_class(exc))
            raise Transient('creating a file in a series dir', exc)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view[:CHUNK]):]
            # As shutil.copy2 (pypx) does: the received file's mode and times.
            if stat.S_IMODE(st.st_mode) != 0o600:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        except OSError as exc:
            os.close(fd)
            self._unlink(item.temp)
            item.temp = None
            raise Transient('writing a file in a series dir', exc)
        os.close(fd)

    def _list_series(self, series):
        """What a series dir holds when this association first files into it; staged copies left there
        by an interrupted attempt of this association are removed, and those of any association older
        than STALE_TEMP_AGE (by ctime: a staged copy's mtime is its received file's) when no filer
        holds that association's lock."""
        names = set(os.listdir(series.fd))
        own = '.%s%s' % (self.tag, TEMP_SUFFIX)
        now, held = None, None
        for name in [n for n in names if n.startswith('.') and n.endswith(TEMP_SUFFIX)]:
            if not name.endswith(own):
                if now is None:
                    now = self.filer.clock()
                try:
                    st = os.stat(name, dir_fd=series.fd, follow_symlinks=False)
                except OSError:
                    continue
                if now - st.st_ctime < STALE_TEMP_AGE:
                    continue
                if held is None:
                    held = self.filer.held_staging_tags(self.name)
                tag = temp_tag(name)
                if tag in held[0] if tag is not None else held[1]:
                    continue
            try:
                os.unlink(name, dir_fd=series.fd)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
            names.discard(name)
        series.names = names

    def _check_name(self, path, level):
        name = os.path.basename(path)
        size = len(name.encode('utf-8', 'surrogateescape'))
        if size > self.filer.name_max:
            raise Unfileable('the %s name is %d bytes, over the file system\'s limit of %d' % (level, size, self.filer.name_max),
                             'name', 'ENAMETOOLONG')
        total = len(path.encode('utf-8', 'surrogateescape'))
        if total >= self.filer.path_max:
            raise Unfileable('the %s path is %d bytes, over the file system\'s limit of %d' % (level, total, self.filer.path_max),
                             'name', 'ENAMETOOLONG')

    def _name_reason(self, path, level, exc):
        if exc.errno == errno.ENAMETOOLONG:
            try:
                self._check_name(path, level)
            except Unfileable as unfileable:
                return unfileable.reason
            return 'a %s name is too long for the file system' % level
        return 'the file system refuses the %s name (%s)' % (level, error_class(exc))

    def _series_dir(self, dataset):
        """The series dir of an instance, by pypx's processPatient/processStudy/processSeries (once per
        key and association; their effects are idempotent), one SeriesDir per dir."""
        key = tuple(_raw_value(dataset, tag) for tag in dicomheader.SERIES_TAGS)
        series = self.series.get(key)
        if series is not None:
            return series
        listen = self.listen
        level, location = 'patient', None
        try:
            patient_info = listen.processPatient(dataset, NO_LOG, listen.data_directory)
            location = patient_info['PATIENT']['Location']
            listen.saveInformation(os.path.join(location, 'patient.info'), patient_info)
            level = 'study'
            study_info = listen.processStudy(dataset, NO_LOG, location)
            location = study_info['STUDY']['Location']
            listen.saveInformation(os.path.join(location, 'study.info'), study_info)
            level = 'series'
            series_info = listen.processSeries(dataset, NO_LOG, location)
            location = series_info['SERIES']['Location']
            # Two instances of one series can differ in the raw bytes of the key (a Specific
            # Character Set, padding) and still go to one dir: one SeriesDir per dir, so its
            # listing (which removes this association's leftover staged copies) is made once.
            series = self.series_paths.get(location)
            if series is None:
                series = SeriesDir(location)
                series.fd = records.open_dir(location)
                with _Flock(series.fd):
                    listen.saveInformation(series.receiving, series_info)
                self.series_paths[location] = series
        except OSError as exc:
            if exc.errno in NOT_FILEABLE:
                path = _decode(exc.filename or '')
                what = '%s map file' % level if path.startswith(self.filer.log_dir + os.sep) else '%s directory' % level
                raise Unfileable(self._name_reason(path, what, exc), 'name', error_class(exc))
            raise Transient('making the %s dir' % level, exc)
        self.series[key] = series
        return series

    # committing --------------------------------------------------------------------------------

    def _sync(self):
        fd = records.open_dir(self.filer.data_dir)
        try:
            syncfs(fd)
        except OSError as exc:
            raise Transient('flushing the data file system', exc)
        finally:
            os.close(fd)

    def _commit(self):
        by_series = {}
        for item in self.items:
            if item.series is not None:
                by_series.setdefault(id(item.series), (item.series, []))[1].append(item)
        for series, items in by_series.values():
            try:
                with _Flock(series.fd):
                    for item in items:
                        if item.temp and self._still_replaces(item):
                            os.rename(item.temp, item.final)
                            item.temp = None
                    if os.path.exists(series.receiving):
                        os.rename(series.receiving, os.path.join(series.path, 'series.info'))
                os.fsync(series.fd)
            except OSError as exc:
                raise Transient('renaming into a series dir', exc)

    def _still_replaces(self, item):
        """Whether item's staged copy still goes over its final name, asked again under the series
        lock: another filer may have filed the same instance since it was staged (a newer copy of
        it, from another association). If so, decided again as when staging; a staged copy that
        no longer goes is removed."""
        now = _hash_file(item.final)
        if now == item.seen:
            return True
        if now == (item.size, item.sha256):
            item.status = 'present'
        elif now is not None and not _replaceable(item.final, item.mtime, item.complete):
            item.status, item.superseded = 'older', True
        else:
            item.status = 'new' if now is None else 'replaced'
            return True
        self._unlink(item.temp)
        item.temp = None
        return False

    def _verify(self):
        for item in self.items:
            if item.status in ('new', 'replaced') and not item.superseded:
                try:
                    got = _hash_file(item.final)
                except OSError as exc:
                    raise Transient('verifying a filed instance', exc)
                if got != (item.size, item.sha256):
                    raise Transient('verifying a filed instance', OSError(errno.EIO, 'content differs'))

    def _discard_temps(self):
        for item in self.items:
            if item.temp:
                self._unlink(item.temp)
                item.temp = None

    @staticmethod
    def _unlink(path):
        try:
            os.unlink(path)
        except OSError:
            pass

    def _quarantine(self):
        """Move the instances that cannot be filed to <tmp>/quarantine/<id>/, with their reasons."""
        bad = [item for item in self.items if item.status == 'quarantined']
        if not bad:
            return
        filer = self.filer
        try:
            qfd = _ensure_dir(filer.quarantine_fd, self.name)
        except OSError as exc:
            raise Transient('making the quarantine dir', exc)
        try:
            for item in bad:
                exc = item.reason
                base = item.name.replace('/', '_')
                target = base
                count = 1
                while _exists(qfd, target) or _exists(qfd, target + records.REASON_SUFFIX):
                    count += 1
                    target = '%s.%d' % (base, count)
                reason = {'reason': exc.reason, 'class': exc.kind, 'errno': exc.errno_name, 'at': round(time.time(), 3)}
                try:
                    records.write_atomic(qfd, target + records.REASON_SUFFIX, records.dumps(reason), sync_dir=False)
                    os.rename(item.name, target, src_dir_fd=self.dir_fd, dst_dir_fd=qfd)
                except OSError as exc2:
                    raise Transient('moving an instance to quarantine', exc2)
                item.name = target
            os.fsync(qfd)
            os.fsync(self.dir_fd)
        finally:
            os.close(qfd)

    def _record(self):
        info = records.association_info(self.dir_fd)
        now = time.time()
        files = []
        quarantine = []
        for item in self.items:
            if item.status == 'quarantined':
                quarantine.append({'name': item.name, 'reason': item.reason.reason})
                continue
            entry = {'name': item.name, 'size': item.size, 'sha256': item.sha256, 'filed_as': item.filed_as,
                     'status': item.status}
            if item.superseded:
                entry['superseded'] = True
            files.append(entry)
        # Instances an interrupted earlier attempt already moved to quarantine.
        listed = set(entry['name'] for entry in quarantine)
        for name, reason in _quarantined(self.filer.quarantine_fd, self.name):
            if name not in listed:
                quarantine.append({'name': name, 'reason': reason})
        received_at = _float(info.get('started'))
        if received_at is None:
            received_at = min([item.mtime / 1e9 for item in self.items] or [self.ended_at or now])
        return {
            'version': records.VERSION, 'association': self.name, 'receiver': self.receiver,
            'calling': info.get('calling'), 'called': info.get('called'), 'peer': info.get('peer'),
            'received_at': received_at, 'ended_at': self.ended_at, 'filed_at': round(now, 6),
            'instances': len(self.items), 'filed': sum(1 for f in files if not f.get('superseded')),
            'superseded': sum(1 for f in files if f.get('superseded')), 'quarantined': len(quarantine),
            'replaced': sum(1 for f in files if f['status'] == 'replaced' and not f.get('superseded')),
            'present': sum(1 for f in files if f['status'] == 'present' and not f.get('superseded')),
            'bytes': sum(f['size'] for f in files if not f.get('superseded')),
            'files': files, 'quarantine': quarantine,
        }


def _quarantined(quarantine_fd, name):
    """(file name, reason) of what quarantine/<name>/ holds."""
    try:
        fd = records.open_dir(name, dir_fd=quarantine_fd)
    except OSError:
        return []
    found = []
    try:
        with os.scandir(fd) as it:
            names = sorted(e.name for e in it if e.name.endswith(records.REASON_SUFFIX))
        for reason_file in names:
            try:
                reason = (records.read_json(reason_file, dir_fd=fd, limit=4096) or {}).get('reason')
            except (OSError, ValueError):
                reason = None
            found.append((reason_file[:-len(records.REASON_SUFFIX)], reason if isinstance(reason, str) else 'unknown'))
    finally:
        os.close(fd)
    return found


class _Writer:
    """Writes the staged copies of an association on a second thread while its own thread reads and
    parses the next received files: creating a file costs a few hundred microseconds of system time
    on some file systems, which then overlaps with the reading. Bounded: at most 32 files wait."""

    def __init__(self, write):
        self.write = write
        self.queue = queue.Queue(maxsize=32)
        self.errors = []
        self.thread = None

    def put(self, item, data, st):
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name='pacsgate-filer-writer')
            self.thread.daemon = True
            self.thread.start()
        self.queue.put((item, data, st))

    def _run(self):
        while True:
            job = self.queue.get()
            try:
                if job is None:
                    return
                try:
                    self.write(*job)
                except BaseException as exc:  # pylint: disable=broad-except
                    self.errors.append((job[0], exc))
            finally:
                self.queue.task_done()

    def drain(self):
        """Wait until every file given so far is written."""
        if self.thread is not None:
            self.queue.join()

    def finish(self):
        """Wait for the writes, stop the thread; return [(item, exception)] of the writes that failed."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        errors, self.errors = self.errors, []
        return errors


def _raw_value(dataset, tag):
    """The raw bytes (or, when pydicom read the file, the value) of one element, for cache keys."""
    try:
        element = dataset._dict.get(tag)  # pylint: disable=protected-access
    except AttributeError:
        element = None
    if element is None:
        return None
    value = getattr(element, 'value', None)
    if isinstance(value, bytes):
        return value
    return ('v', str(value))


def _decode(path):
    return path.decode('utf-8', 'surrogateescape') if isinstance(path, bytes) else path


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _exists(dir_fd, name):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except OSError:
        return False


def _ensure_dir(parent_fd, name, mode=0o750):
    try:
        os.mkdir(name, mode, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    return records.open_dir(name, dir_fd=parent_fd)


class _Flock:
    def __init__(self, fd):
        self.fd = fd

    def __enter__(self):
        import fcntl  # pylint: disable=import-outside-toplevel

        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl  # pylint: disable=import-outside-toplevel

        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return False


# The service -------------------------------------------------------------------------------------

class Log:
    """Log lines to stdout, or appended to a file that is reopened when housekeeping rotates it."""

    def __init__(self, path=None, stream=None):
        self.path = path
        self.stream = stream or sys.stdout
        self.fd = None
        self.checked = 0
        self.lock = threading.Lock()

    def __call__(self, text):
        line = '%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), text)
        with self.lock:
            try:
                if self.path is None:
                    self.stream.write(line)
                    self.stream.flush()
                    return
                self._reopen_if_rotated()
                os.write(self.fd, line.encode('utf-8', 'replace'))
            except (IOError, OSError, ValueError):
                pass  # a log that cannot be written (full disk, closed stdout) never stops the filing

    def _reopen_if_rotated(self):
        now = time.time()
        if self.fd is not None and now - self.checked < 1:
            return
        self.checked = now
        if self.fd is not None:
            try:
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(self.fd).st_ino
            except OSError:
                same = False
            if same:
                return
            os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | O_CLOEXEC, 0o640)


class Filer:
    """The filer's state: associations in hand, retries, and its pool of workers."""

    def __init__(self, config, log=None, clock=time.time):
        self.config = config
        self.layout = records.layout(config)
        self.data_dir = config['data_dir']
        self.log_dir = config['log_dir']
        self.refile_after = 60 * config['refile_after_minutes']
        self.min_free_mb = config['min_free_mb']
        self.checks = records.check_aetitles(config)
        self.log = log or Log()
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=config['workers'])
        self.lock = threading.Lock()
        self.in_hand = {}
        self.retry = {}             # (place, name) -> (next attempt, delay)
        self.stop = threading.Event()
        self.results = []           # (place, name, ok) of finished jobs, for run_once()
        self.gate_seen = None
        self.px_listen_seen = 0.0
        self.px_listen_recorded = {}  # px-listen dir -> (when, what its received files looked like) when all were recorded
        self._logged_once = set()
        self.tmp_fd = records.open_dir(self.layout.tmp_dir)
        for place in (records.INCOMING, records.QUEUE, records.FILED, records.QUARANTINE):
            os.close(_ensure_dir(self.tmp_fd, place))
        self.incoming_fd = records.open_dir(records.INCOMING, dir_fd=self.tmp_fd)
        self.queue_fd = records.open_dir(records.QUEUE, dir_fd=self.tmp_fd)
        self.filed_fd = records.open_dir(records.FILED, dir_fd=self.tmp_fd)
        self.quarantine_fd = records.open_dir(records.QUARANTINE, dir_fd=self.tmp_fd)
        self.name_max = os.pathconf(self.data_dir, 'PC_NAME_MAX') if os.path.isdir(self.data_dir) else 255
        self.path_max = os.pathconf(self.data_dir, 'PC_PATH_MAX') if os.path.isdir(self.data_dir) else 4096

    def close(self):
        self.pool.shutdown(wait=True)
        for fd in (self.incoming_fd, self.queue_fd, self.filed_fd, self.quarantine_fd, self.tmp_fd):
            os.close(fd)

    # finding work ------------------------------------------------------------------------------

    def scan(self, once=False):
        """Take every association that is over and not in hand; return how many were taken."""
        taken = 0
        now = self.clock()
        for name in self._dirs(self.incoming_fd):
            taken += self._take_incoming(name, now)
        for name in self._dirs(self.queue_fd):
            taken += self._take(('queue', name), self.queue_fd, name, 'filer', None, now, once)
        # px-listen's dirs wait minutes: looked at every few seconds, not at every poll.
        if once or now - self.px_listen_seen >= PX_LISTEN_EVERY:
            self.px_listen_seen = now
            names = self._px_listen_dirs()
            for name in set(self.px_listen_recorded) - set(names):
                del self.px_listen_recorded[name]
            for name in names:
                taken += self._take(('px-listen', name), self.tmp_fd, name, 'px-listen', None, now, once)
        return taken

    @staticmethod
    def _dirs(dir_fd):
        names = []
        with os.scandir(dir_fd) as it:
            for entry in it:
                if records.ASSOCIATION_NAME.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                    names.append(entry.name)
        return sorted(names)

    def _px_listen_dirs(self):
        names = []
        with os.scandir(self.tmp_fd) as it:
            for entry in it:
                if records.PX_LISTEN_NAME.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                    names.append(entry.name)
        return sorted(names)

    def _busy(self, key):
        with self.lock:
            return key in self.in_hand

    def _lock_dir(self, parent_fd, name):
        """(dir fd, lock fd) of parent/name when its lock is free, else None."""
        try:
            dir_fd = records.open_dir(name, dir_fd=parent_fd)
        except OSError:
            return None
        try:
            lock_fd, _state = records.lock_state(dir_fd, create=True)
        except OSError:
            lock_fd = None
        if lock_fd is None:
            os.close(dir_fd)
            return None
        # Still there under that name (not moved on by another filer meanwhile)?
        try:
            now_st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            st = os.fstat(dir_fd)
            same = (now_st.st_dev, now_st.st_ino) == (st.st_dev, st.st_ino)
        except OSError:
            same = False
        if not same:
            os.close(lock_fd)
            os.close(dir_fd)
            return None
        return dir_fd, lock_fd

    def _take_incoming(self, name, now):
        key = ('queue', name)
        if self._busy(key):
            return 0
        locked = self._lock_dir(self.incoming_fd, name)
        if locked is None:
            return 0
        dir_fd, lock_fd = locked
        try:
            os.rename(name, name, src_dir_fd=self.incoming_fd, dst_dir_fd=self.queue_fd)
        except OSError as exc:
            os.close(lock_fd)
            os.close(dir_fd)
            self._once_log(('incoming', name), 'association %s: cannot move it to the queue: %s' % (name, error_class(exc)))
            return 0
        self._submit(key, name, dir_fd, lock_fd, 'filer', now)
        return 1

    def _take(self, key, parent_fd, name, receiver, ended_at, now, once):
        if self._busy(key):
            return 0
        if not once:
            with self.lock:
                retry = self.retry.get(key)
            if retry is not None and retry[0] > now:
                return 0
        if receiver == 'px-listen' and not self._px_listen_ready(parent_fd, name, now, once):
            return 0
        locked = self._lock_dir(parent_fd, name)
        if locked is None:
            return 0
        dir_fd, lock_fd = locked
        if receiver == 'px-listen' and _exists(dir_fd, records.RECORD) and not _unrecorded(dir_fd)[0]:
            os.close(lock_fd)
            os.close(dir_fd)
            return 0
        if ended_at is None:
            ended_at = _ended_at(dir_fd)
        self._submit(key, name, dir_fd, lock_fd, receiver, ended_at)
        return 1

    def _px_listen_ready(self, parent_fd, name, now, once):
        """A px-listen dir untouched for refile_after_minutes and unlocked, without a record, or with
        received files its record does not account for (px-listen received them after the filer took
        the dir: without the lean launcher's lock only time says when px-listen is done)."""
        try:
            fd = records.open_dir(name, dir_fd=parent_fd)
        except OSError:
            return False
        try:
            if not records.lock_is_free(fd):
                return False
            if _exists(fd, records.RECORD) and not self._px_listen_unrecorded(name, fd, now, once):
                return False
            newest = records.newest_mtime(fd, os.fstat(fd).st_mtime, depth=2)
            return now - newest >= self.refile_after
        finally:
            os.close(fd)

    def _px_listen_unrecorded(self, name, fd, now, once):
        """Whether a recorded px-listen dir holds received files its record does not account for. Looked
        at every PX_LISTEN_RECHECK_EVERY seconds (every time with once); its record is read again only
        when its received files (count, bytes, newest mtime) or the record itself changed since all
        were found recorded."""
        seen = self.px_listen_recorded.get(name)
        if seen is not None and not once and now - seen[0] < PX_LISTEN_RECHECK_EVERY:
            return False
        missing, fingerprint = _unrecorded(fd, None if seen is None else seen[1])
        if missing:
            self.px_listen_recorded.pop(name, None)
            return True
        self.px_listen_recorded[name] = (now, fingerprint)
        return False

    def held_staging_tags(self, filing):
        """(the staging tags (staging_tag()) of the associations being filed now, by this filer or
        another: their locks are held, whether any association but filing is)."""
        tags, others = set(), False
        for parent_fd, names in ((self.queue_fd, self._dirs(self.queue_fd)), (self.tmp_fd, self._px_listen_dirs())):
            for name in names:
                try:
                    fd = records.open_dir(name, dir_fd=parent_fd)
                except OSError:
                    continue
                try:
                    free = records.lock_is_free(fd)
                except OSError:
                    free = False
                finally:
                    os.close(fd)
                if not free:
                    tags.add(staging_tag(name))
                    others = others or name != filing
        return tags, others

    def _submit(self, key, name, dir_fd, lock_fd, receiver, ended_at):
        with self.lock:
            self.in_hand[key] = self.pool.submit(self._job, key, name, dir_fd, lock_fd, receiver, ended_at)

    # filing ------------------------------------------------------------------------------------

    def _job(self, key, name, dir_fd, lock_fd, receiver, ended_at):
        ok = False
        try:
            ok = self.file_one(key, name, dir_fd, receiver, ended_at)
        except Exception as exc:  # pylint: disable=broad-except
            self.log('association %s: unexpected %s; kept for a retry' % (name, error_class(exc)))
            self._schedule_retry(key)
        finally:
            os.close(lock_fd)
            os.close(dir_fd)
            with self.lock:
                self.in_hand.pop(key, None)
                self.results.append((key, ok))
        return ok

    def file_one(self, key, name, dir_fd, receiver, ended_at):
        """File one association whose lock is held; True when it is filed (record written)."""
        started = time.time()
        previous = _previous_record(dir_fd)
        association = Association(self, name, dir_fd, receiver, ended_at)
        try:
            record = association.file()
        except Transient as exc:
            delay = self._schedule_retry(key)
            self.log('association %s: %s; kept in the %s, retried in %d s' % (
                name, exc.describe(), 'tmp dir' if receiver == 'px-listen' else 'queue', delay))
            return False
        try:
            records.write_record(dir_fd, record)
            if key[0] == 'queue':
                os.rename(name, name, src_dir_fd=self.queue_fd, dst_dir_fd=self.filed_fd)
                os.fsync(self.filed_fd)
        except OSError as exc:
            delay = self._schedule_retry(key)
            self.log('association %s: writing its record: %s; retried in %d s' % (name, error_class(exc), delay))
            return False
        with self.lock:
            self.retry.pop(key, None)
        self._count(record, previous)
        latency = record['filed_at'] - (ended_at if ended_at is not None else record['filed_at'])
        self.log('association %s: %d instance(s): %d filed (%d already there, %d replaced), %d quarantined, '
                 '%d bytes in %.3f s; %.3f s after it ended' % (
                     name, record['instances'], record['filed'], record['present'], record['replaced'],
                     record['quarantined'], record['bytes'], time.time() - started, latency))
        return True

    def _schedule_retry(self, key):
        with self.lock:
            previous = self.retry.get(key)
            delay = RETRY_FIRST if previous is None else min(previous[1] * 2, RETRY_MAX)
            self.retry[key] = (self.clock() + delay, delay)
        return delay

    def _count(self, record, previous=None):
        """Count a filed association in the stats; filed again (a record was in its dir already: a
        px-listen dir that received more after it was filed, a crash after the record was written),
        only what the new record adds."""
        ended_at = record.get('ended_at')

        def added(key):
            before = previous.get(key) if previous is not None else 0
            if not isinstance(before, int) or isinstance(before, bool):
                before = 0
            return max(0, record[key] - before)

        def mutate(stats):
            if previous is None:
                stats['associations_filed'] += 1
            stats['instances_filed'] += added('filed')
            stats['instances_quarantined'] += added('quarantined')
            stats['instances_replaced'] += added('replaced')
            stats['instances_superseded'] += added('superseded')
            stats['bytes_filed'] += added('bytes')
            stats['last_filed_at'] = record['filed_at']
            if record['received_at'] is not None and (record.get('calling') or '').strip() not in self.checks:
                stats['last_association_at'] = max(stats['last_association_at'] or 0, record['received_at'])
            if ended_at is not None and record['receiver'] == 'filer' and previous is None:
                # (px-listen files its own associations; the filer verifies them minutes later.)
                records.observe_latency(stats, max(0.0, record['filed_at'] - ended_at))
            if added('instances'):
                records.count_received(stats, record['received_at'] or record['filed_at'], added('instances'))

        try:
            records.update_stats(self.log_dir, mutate)
        except (OSError, ValueError) as exc:
            self.log('stats not updated: %s' % error_class(exc))

    # the rest of a pass ------------------------------------------------------------------------

    def check_space(self):
        """Create or remove the refuse flag (hysteresis: remove at 10 % above the threshold)."""
        flag = records.REFUSE_FLAG
        present = _exists(self.tmp_fd, flag)
        if self.min_free_mb <= 0:
            if present:
                self._remove_flag('free space is no longer checked')
            return
        lowest = None
        for label, path in (('tmp', self.layout.tmp_dir), ('data', self.data_dir)):
            try:
                st = os.statvfs(path)
            except OSError:
                continue
            free_mb = st.f_bavail * st.f_frsize // (1024 * 1024)
            if lowest is None or free_mb < lowest[0]:
                lowest = (free_mb, label)
        if lowest is None:
            return
        free_mb, label = lowest
        if free_mb < self.min_free_mb and not present:
            reason = 'free space on the %s file system is %d MB, below the minimum of %d MB\n' % (label, free_mb, self.min_free_mb)
            try:
                records.write_atomic(self.tmp_fd, flag, reason.encode('utf-8'), mode=0o644)
            except OSError as exc:
                self.log('cannot create the refuse flag: %s' % error_class(exc))
                return
            self.log('refusing new associations: %s' % reason.strip())
        elif present and free_mb >= self.min_free_mb * 1.1:
            self._remove_flag('free space on the %s file system is %d MB again' % (label, free_mb))

    def _remove_flag(self, why):
        try:
            os.unlink(records.REFUSE_FLAG, dir_fd=self.tmp_fd)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                self.log('cannot remove the refuse flag: %s' % error_class(exc))
            return
        self.log('accepting associations again: %s' % why)

    def tail_gate_log(self):
        """Count the associations log's new lines (accepted, refused by reason) into the stats."""
        try:
            st = os.stat(self.layout.gate_log, follow_symlinks=False)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode):
            return
        seen = (st.st_ino, st.st_size)
        if seen == self.gate_seen:
            return
        log_dir, checks = self.log_dir, self.checks

        def mutate(stats):
            position = stats['gate_log']
            inode, offset = position.get('inode'), position.get('offset') or 0
            if inode is not None and inode != st.st_ino:
                # Rotated: finish the old file (now associations.log.1) first.
                _count_lines(stats, log_dir, records.GATE_LOG + '.1', inode, offset, checks)
                offset = 0
            new_offset = _count_lines(stats, log_dir, records.GATE_LOG, st.st_ino, offset, checks)
            position['inode'], position['offset'] = st.st_ino, new_offset

        try:
            records.update_stats(log_dir, mutate)
            self.gate_seen = seen
        except (OSError, ValueError) as exc:
            self.log('associations log not counted: %s' % error_class(exc))

    def remove_stale_new_dirs(self, now):
        """Remove <incoming>/.new-<id> dirs a gate left behind (older than an hour, unlocked, holding
        nothing but its .association and .lock)."""
        with os.scandir(self.incoming_fd) as it:
            names = [e.name for e in it if e.name.startswith(records.NEW_PREFIX) and e.is_dir(follow_symlinks=False)]
        for name in names:
            locked = self._lock_dir(self.incoming_fd, name)
            if locked is None:
                continue
            dir_fd, lock_fd = locked
            try:
                if now - os.fstat(dir_fd).st_mtime < NEW_DIR_MAX_AGE:
                    continue
                with os.scandir(dir_fd) as it:
                    contents = set(e.name for e in it)
                if not contents <= {records.ASSOCIATION_INFO, records.LOCK}:
                    continue
                for entry in contents:
                    os.unlink(entry, dir_fd=dir_fd)
                os.rmdir(name, dir_fd=self.incoming_fd)
            except OSError:
                pass
            finally:
                os.close(lock_fd)
                os.close(dir_fd)

    def _once_log(self, key, text):
        if key not in self._logged_once:
            self._logged_once.add(key)
            self.log(text)

    # running -----------------------------------------------------------------------------------

    def run(self):
        """Poll until SIGTERM (stop set): then finish the associations in hand and return."""
        last_house, last_new = 0.0, 0.0
        while not self.stop.is_set():
            now = self.clock()
            try:
                self.scan()
                if now - last_house >= HOUSEKEEPING_EVERY:
                    last_house = now
                    self.check_space()
                    self.tail_gate_log()
                if now - last_new >= 60:
                    last_new = now
                    self.remove_stale_new_dirs(now)
            except OSError as exc:
                self._once_log(('scan', error_class(exc)), 'scanning the tmp dir: %s' % error_class(exc))
            self.stop.wait(POLL)
        self.close()

    def run_once(self):
        """One pass over everything present; 0 when nothing is left waiting, 1 otherwise."""
        self.check_space()
        self.tail_gate_log()
        self.remove_stale_new_dirs(self.clock())
        self.scan(once=True)
        self._wait()
        self.close()
        failed = [key for key, ok in self.results if not ok]
        filed = len(self.results) - len(failed)
        self.log('pass done: %d association(s) filed, %d kept for a retry' % (filed, len(failed)))
        return 1 if failed else 0

    def _wait(self):
        while True:
            with self.lock:
                futures = list(self.in_hand.values())
            if not futures:
                return
            for future in futures:
                future.result()


def _ended_at(dir_fd):
    """When an association taken from the queue or px-listen's tmp dir ended: its newest mtime."""
    try:
        return records.newest_mtime(dir_fd, os.fstat(dir_fd).st_mtime, depth=1)
    except OSError:
        return None


def _previous_record(dir_fd):
    """The record already in an association dir being filed (again), or None."""
    try:
        record = records.read_record(dir_fd)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _unrecorded(dir_fd, known=None):
    """(whether a px-listen dir holds received files its record does not account for, a fingerprint of
    its received files and record). A fingerprint equal to known means nothing changed since all were
    recorded: the record is not read again. A record that cannot be read accounts for nothing."""
    received = records.received_files(dir_fd, True)
    try:
        st = os.stat(records.RECORD, dir_fd=dir_fd, follow_symlinks=False)
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        identity = None
    fingerprint = (identity, len(received), sum(item[1].st_size for item in received),
                   max([item[1].st_mtime_ns for item in received] or [0]))
    if known is not None and fingerprint == known:
        return False, fingerprint
    try:
        record = records.read_record(dir_fd)
    except (OSError, ValueError):
        record = None
    return bool(records.unrecorded(received, record)) if record is not None else True, fingerprint


def _count_lines(stats, log_dir, name, inode, offset, checks=frozenset()):
    """Count the complete lines of log_dir/name from offset if it is the file inode; new offset."""
    fd = records.open_dir(log_dir)
    try:
        try:
            file_fd = os.open(name, records.READ_FLAGS, dir_fd=fd)
        except OSError:
            return offset
        try:
            st = os.fstat(file_fd)
            if st.st_ino != inode or not stat.S_ISREG(st.st_mode):
                return offset
            if st.st_size < offset:
                offset = 0  # truncated
            os.lseek(file_fd, offset, os.SEEK_SET)
            data = b''
            while len(data) < 16 * 1024 * 1024:
                chunk = os.read(file_fd, CHUNK)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(file_fd)
    finally:
        os.close(fd)
    end = data.rfind(b'\n') + 1
    for line in data[:end].decode('utf-8', 'replace').splitlines():
        records.count_gate_line(stats, line, checks)
    return offset + end


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m pacsgate_listener.filer', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--config', required=True, help='/etc/pacsgate/<service>.json')
    parser.add_argument('--once', action='store_true', help='one pass over everything present, then exit')
    parser.add_argument('--log-file', action='store_true', help='append log lines to <log dir>/filer.log instead of stdout')
    args = parser.parse_args(argv)
    try:
        config = records.load_config(args.config)
    except (OSError, ValueError) as exc:
        sys.stderr.write('filer: configuration %s: %s\n' % (args.config, exc))
        return 2
    log = Log(os.path.join(config['log_dir'], 'filer.log') if args.log_file else None)
    try:
        pypx_listen()
        filer = Filer(config, log=log)
    except (OSError, ImportError) as exc:
        log('cannot start: %s' % error_class(exc))
        return 2
    if args.once:
        return filer.run_once()

    def stop(_signum, _frame):
        filer.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log('filing into the data dir with %d worker(s)' % config['workers'])
    filer.run()
    log('stopped')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
