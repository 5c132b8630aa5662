# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Give the listener's tmp, log and data dirs back to it when an earlier root run left entries owned
by someone else (run by the role, as root).

    python -m pacsgate_listener.ownership --config /etc/pacsgate/<service>.json --user dicom --group dicom [--check]

These dirs are writable by the listener, so root must not be led anywhere by what the listener put
there: the walk is ``os.fwalk(follow_symlinks=False)`` (directories opened relative to their
parent's descriptor, never through a symlink), every change is ``os.chown(name, uid, gid,
dir_fd=..., follow_symlinks=False)`` (a symlink's own owner changes, never its target's), a top dir
that is a symlink (or not a directory) is refused before anything is done, and a regular file with
more than one hard link is left alone and counted (it may be a link to a file elsewhere). Prints a
JSON summary of counts: ``{"changed": n, "checked": n, "skipped_hard_links": n}``; exit 0, or 1
when a top dir is refused.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import stat
import sys

from . import records


class Refused(Exception):
    """A top dir that cannot be walked safely."""


def give_back(tops, uid, gid, check=False):
    """Make every entry under each top dir (and the top dir itself) owned by uid:gid.

    Returns {'changed', 'checked', 'skipped_hard_links'}; with check=True nothing is changed and
    'changed' counts what would be. Raises Refused, before changing anything, when a top dir is a
    symlink or not a directory."""
    for top in tops:
        try:
            st = os.lstat(top)
        except OSError as exc:
            raise Refused('%s cannot be read (%s)' % (top, exc.strerror))
        if stat.S_ISLNK(st.st_mode):
            raise Refused('%s is a symlink' % top)
        if not stat.S_ISDIR(st.st_mode):
            raise Refused('%s is not a directory' % top)
    summary = {'changed': 0, 'checked': 0, 'skipped_hard_links': 0}
    for top in tops:
        fd = records.open_dir(top)
        try:
            _fix(fd, None, uid, gid, check, summary)
        finally:
            os.close(fd)
        for _dirpath, dirnames, filenames, dir_fd in os.fwalk(top, follow_symlinks=False):
            for name in dirnames + filenames:
                _fix(dir_fd, name, uid, gid, check, summary)
    return summary


def _fix(dir_fd, name, uid, gid, check, summary):
    try:
        st = os.fstat(dir_fd) if name is None else os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    summary['checked'] += 1
    if (st.st_uid, st.st_gid) == (uid, gid):
        return
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        summary['skipped_hard_links'] += 1
        return
    summary['changed'] += 1
    if check:
        return
    if name is None:
        os.fchown(dir_fd, uid, gid)
    else:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


def _id(value, lookup, field):
    if value.isdigit():
        return int(value)
    return getattr(lookup(value), field)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m pacsgate_listener.ownership', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--config', required=True, help='/etc/pacsgate/<service>.json')
    parser.add_argument('--user', required=True, help="the listener's user (name or uid)")
    parser.add_argument('--group', required=True, help="the listener's group (name or gid)")
    parser.add_argument('--check', action='store_true', help='count what would change, change nothing')
    args = parser.parse_args(argv)
    import grp  # pylint: disable=import-outside-toplevel
    import pwd  # pylint: disable=import-outside-toplevel

    try:
        config = records.load_config(args.config)
        uid = _id(args.user, pwd.getpwnam, 'pw_uid')
        gid = _id(args.group, grp.getgrnam, 'gr_gid')
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write('ownership: %s\n' % (exc,))
        return 2
    try:
        summary = give_back([config['tmp_dir'], config['log_dir'], config['data_dir']], uid, gid, check=args.check)
    except Refused as exc:
        sys.stderr.write('ownership: refused: %s\n' % exc)
        return 1
    sys.stdout.write(json.dumps(summary, sort_keys=True) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
