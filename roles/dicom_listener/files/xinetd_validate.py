# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a rendered xinetd service file before it replaces the live one.

xinetd has no parse-only mode, exits 0 even when every service is invalid and skips a broken
service with a log line, so the dicom_listener role runs this on the gateway as the template's
validate step:

    python3 xinetd_validate.py FILE SERVICE [XINETD_CONF]

It uses the collection's strict parser (pacsgate_xinetd.py, installed beside it). Exit 0 when the
file holds exactly SERVICE and nothing xinetd would reject or ignore; exit 1 and one reason a line
on stderr otherwise; exit 2 on wrong usage.
"""

from __future__ import absolute_import, division, print_function

import importlib.util
import os
import sys

__metaclass__ = type


def load_parser():
    """Import pacsgate_xinetd.py from the directory of this script."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pacsgate_xinetd.py')
    spec = importlib.util.spec_from_file_location('pacsgate_xinetd', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problems_of(xinetd, path, name, conf):
    """Every reason not to install the file, as strings."""
    try:
        parsed = xinetd.parse_file(path)
    except (IOError, OSError, xinetd.XinetdParseError) as exc:
        return [str(exc)]
    names = [service['name'] for service in parsed['services']]
    if names != [name]:
        return ['%s must hold exactly the service %s; it holds %s' % (path, name, names or 'none')]
    defaults = None
    if os.path.exists(conf):
        try:
            defaults = xinetd.parse_file(conf)['defaults']
        except (IOError, OSError, xinetd.XinetdParseError) as exc:
            return ['cannot read the defaults in %s: %s' % (conf, exc)]
    attributes = xinetd.effective_attributes(parsed['services'][0], defaults)
    return xinetd.validate_service(attributes, name)


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write('usage: %s FILE SERVICE [XINETD_CONF]\n' % os.path.basename(argv[0]))
        return 2
    conf = argv[3] if len(argv) == 4 else '/etc/xinetd.conf'
    problems = problems_of(load_parser(), argv[1], argv[2], conf)
    for problem in problems:
        sys.stderr.write(problem + '\n')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
