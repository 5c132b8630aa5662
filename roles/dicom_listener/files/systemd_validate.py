# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a rendered systemd unit of the listener before it replaces the live one.

systemd-analyze verify needs the unit under its real name, and it only warns (exit 0) about
unknown keys and values it cannot parse, which systemd then ignores. The dicom_listener role runs
this on the gateway as the template's validate step:

    python3 systemd_validate.py FILE UNIT_NAME UNIT_DIR

FILE is copied as UNIT_NAME into an empty directory together with the listener's other units
already in UNIT_DIR (a socket needs its service), and verified there. Exit 0 when
systemd-analyze reports nothing about the unit; exit 1 with its report otherwise; 2 on wrong usage.
"""

from __future__ import absolute_import, division, print_function

import os
import shutil
import subprocess
import sys
import tempfile

__metaclass__ = type


def siblings(unit_name, unit_dir):
    """The listener's other units in unit_dir: same prefix, another suffix."""
    stem = unit_name.split('@')[0].rsplit('.', 1)[0]
    found = []
    for name in sorted(os.listdir(unit_dir)) if os.path.isdir(unit_dir) else []:
        if name != unit_name and name.split('@')[0].rsplit('.', 1)[0] in (stem, stem + '-resume'):
            found.append(name)
    return found


def main(argv):
    if len(argv) != 4:
        sys.stderr.write('usage: systemd_validate.py FILE UNIT_NAME UNIT_DIR\n')
        return 2
    path, unit_name, unit_dir = argv[1:]
    work = tempfile.mkdtemp(prefix='pacsgate-verify-')
    try:
        for name in siblings(unit_name, unit_dir):
            shutil.copyfile(os.path.join(unit_dir, name), os.path.join(work, name))
        staged = os.path.join(work, unit_name)
        shutil.copyfile(path, staged)
        proc = subprocess.run(['systemd-analyze', 'verify', '--man=no', staged],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              check=False)
        stem = unit_name.replace('@.', '@').rsplit('.', 1)[0]
        # Warnings about other units on the host are not ours to judge.
        ours = [line for line in proc.stdout.splitlines() if work in line or line.startswith(stem)]
        if proc.returncode != 0 or ours:
            sys.stderr.write('%s is not a valid %s:\n%s\n' % (path, unit_name, '\n'.join(ours or [proc.stdout.strip()])))
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
