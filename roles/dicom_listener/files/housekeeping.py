# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Remove association dirs px-listen left in its tmp dir once everything in them is filed.

px-listen never cleans its tmp dir: every association leaves a full copy of what it received.
This removes an association dir only when it has not been touched for --min-age seconds and every
instance in it is filed under the data dir (an association without instances, a C-ECHO, counts as
filed). Dirs holding anything unfiled are kept, so nothing received is ever lost. The data dir is
only read.

    python3 housekeeping.py --tmp-dir DIR --data-dir DIR --min-age SECONDS [--dry-run]
"""

from __future__ import absolute_import, division, print_function

import argparse
import importlib.util
import os
import shutil
import sys
import time

__metaclass__ = type


def load_gateway():
    """Import pacsgate_gateway.py (the collection's module_utils/gateway.py) from beside this file."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pacsgate_gateway.py')
    spec = importlib.util.spec_from_file_location('pacsgate_gateway', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sweep(gateway, tmp_dir, data_dir, min_age, dry_run=False, now=None):
    """Remove fully filed, old association dirs; return (removed, kept) lists of paths."""
    tmp_real, data_real = os.path.realpath(tmp_dir), os.path.realpath(data_dir)
    if tmp_real == data_real or data_real.startswith(tmp_real + os.sep):
        raise ValueError('the data dir %s lies in the tmp dir %s; refusing to clean' % (data_dir, tmp_dir))
    now = time.time() if now is None else now
    filed, _receiving = gateway.filed_instances(data_dir)
    removed, kept = [], []
    for entry in sorted(os.listdir(tmp_dir)):
        path = os.path.join(tmp_dir, entry)
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        too_recent = now - gateway.tree_mtime(path) < min_age
        unfiled = [uid for uid in gateway.received_instances(path) if uid not in filed]
        if too_recent or unfiled:
            kept.append(path)
            continue
        if not dry_run:
            shutil.rmtree(path)
        removed.append(path)
    return removed, kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--tmp-dir', required=True)
    parser.add_argument('--data-dir', required=True)
    parser.add_argument('--min-age', type=int, required=True, help='seconds an association dir must be untouched')
    parser.add_argument('--dry-run', action='store_true')
    args = parser.parse_args(argv)
    try:
        removed, kept = sweep(load_gateway(), args.tmp_dir, args.data_dir, args.min_age, args.dry_run)
    except (OSError, ValueError) as exc:
        sys.stderr.write('housekeeping: %s\n' % exc)
        return 1
    verb = 'would remove' if args.dry_run else 'removed'
    sys.stdout.write('housekeeping: %s %d filed association dir(s) from %s; kept %d (unfiled or recent)\n'
                     % (verb, len(removed), args.tmp_dir, len(kept)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
