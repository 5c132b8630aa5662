# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Validators of every value the dicom_listener role and the dicom_listener_info module take.

One validator per kind of value. Each takes the value and the name to report it under (a role
variable, a list index such as ``dicom_listener_pacs[0].host``, a module option) and returns a list
of problems, empty when the value is good. Every problem names what it is about, shows the value
(escaped, so that a newline or NUL is visible) and says what is allowed.

Whole values are checked, with re.fullmatch or explicit comparisons: never with ``$``, which also
matches before a final newline. :func:`role_problems` checks a dict of every ``dicom_listener_*``
variable at once, with the checks that relate several variables.

Standard library only; Python 3.8 and later.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import json
import math
import re
import unicodedata

# ---------------------------------------------------------------------------------------------
# How values and characters are shown in messages.

_SHOW_MAX = 72


def show(value):
    """The value as it appears in a message: JSON-escaped (so control characters show), shortened."""
    if isinstance(value, bool):
        text = 'true' if value else 'false'
    else:
        try:
            text = json.dumps(value, ensure_ascii=True, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > _SHOW_MAX:
        text = '%s...(%d characters)' % (text[:_SHOW_MAX - 12], len(text))
    return text


def _kind(value):
    """What a value is, in YAML's words."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, int):
        return 'an integer'
    if isinstance(value, float):
        return 'a decimal number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, dict):
        return 'a dict'
    if isinstance(value, (list, tuple)):
        return 'a list'
    return 'a %s' % type(value).__name__


_CHAR_NAMES = {'\n': 'a newline', '\r': 'a carriage return', '\t': 'a tab', '\0': 'a NUL character',
               ' ': 'a space', '\u2028': 'a line separator', '\u2029': 'a paragraph separator'}


def describe_char(char):
    """A character named so that a reader sees what it is."""
    code = 'U+%04X' % ord(char)
    if char in _CHAR_NAMES:
        return '%s (%s)' % (_CHAR_NAMES[char], code)
    if unicodedata.category(char)[0] in 'CZ':
        return 'the control or space character %s' % code
    if ord(char) > 126:
        return 'the non-ASCII character %s' % code
    return "'%s'" % char


def _first_not_in(text, allowed):
    """The first character of text not in the set allowed, or None."""
    for char in text:
        if char not in allowed:
            return char
    return None


def _problem(name, value, reason, allowed):
    return '%s: %s %s; allowed: %s' % (name, show(value), reason, allowed)


# ---------------------------------------------------------------------------------------------
# Numbers and booleans.

_DECIMAL = re.compile(r'0|[1-9][0-9]*')
_DECIMAL_FRACTION = re.compile(r'(?:0|[1-9][0-9]*)(?:\.[0-9]+)?')


def _as_integer(value):
    """(int, None), or (None, why the value is not an integer as the role wants it written)."""
    if isinstance(value, bool):
        return None, 'is a boolean'
    if isinstance(value, int):
        return int(value), None
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):
            return (int(value) if len(value) <= 100 else 10 ** 100), None
        return None, 'is not written as plain decimal digits'
    return None, 'is %s' % _kind(value)


def integer(value, name, minimum, maximum, unit=''):
    """An integer from minimum to maximum: an int, or a string of decimal digits without a sign,
    spaces, '_' separators or leading zeros (as -e name=value gives it); never a bool or a float."""
    allowed = 'an integer from %d to %d%s, written with digits only (no sign, spaces, _ or decimal point)' % (
        minimum, maximum, unit)
    number, reason = _as_integer(value)
    if reason:
        return [_problem(name, value, reason, allowed)]
    if not minimum <= number <= maximum:
        return [_problem(name, value, 'is out of range', allowed)]
    return []


def port(value, name):
    """A TCP port number, 1 to 65535."""
    return integer(value, name, 1, 65535)


def number(value, name, minimum, maximum, unit=''):
    """A non-negative number (int or float, or its decimal string) from minimum to maximum."""
    allowed = 'a number from %s to %s%s, such as 24 or 0.5' % (minimum, maximum, unit)
    if isinstance(value, bool):
        return [_problem(name, value, 'is a boolean', allowed)]
    if isinstance(value, (int, float)):
        parsed = float(value) if abs(value) < 1e300 else float('inf')
    elif isinstance(value, str) and len(value) <= 24 and _DECIMAL_FRACTION.fullmatch(value):
        parsed = float(value)
    else:
        reason = 'is not written as a plain decimal number' if isinstance(value, str) else 'is %s' % _kind(value)
        return [_problem(name, value, reason, allowed)]
    if math.isnan(parsed) or not minimum <= parsed <= maximum:
        return [_problem(name, value, 'is out of range', allowed)]
    return []


# What Ansible's bool filter reads as true and false (strings compared in lower case).
BOOLEAN_TRUE = ('true', 'yes', 'on', 'y', 't', '1')
BOOLEAN_FALSE = ('false', 'no', 'off', 'n', 'f', '0')


def as_boolean(value):
    """True or False for a boolean as Ansible's bool filter reads it (without surrounding
    spaces), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in BOOLEAN_TRUE:
            return True
        if lowered in BOOLEAN_FALSE:
            return False
    return None


def boolean(value, name):
    """true or false, or a string Ansible's bool filter reads as one (yes/no, on/off, 1/0...)."""
    if as_boolean(value) is None:
        return [_problem(name, value, 'is not a boolean',
                         'true or false (also yes/no, on/off, y/n, t/f, 1/0 in any case, without spaces)')]
    return []


def choice(value, name, choices):
    """One of a fixed set of strings."""
    if not isinstance(value, str) or value not in choices:
        return [_problem(name, value, 'is not one of the choices', ', '.join(choices))]
    return []


# ---------------------------------------------------------------------------------------------
# DICOM AE titles.

# Printable ASCII without the backslash (DICOM's rule) and without the characters that have a
# meaning where the title is written: % (systemd specifiers), $ and ` (expansion), quotes, ;.
AETITLE_FORBIDDEN = '\\%$\'"`;'
_AETITLE_CHARS = frozenset(chr(code) for code in range(32, 127)) - frozenset(AETITLE_FORBIDDEN)
_AETITLE_ALLOWED = ('1 to 16 characters: letters, digits, spaces inside, and printable ASCII punctuation '
                    'except \\ % $ \' " ` ;')


def aetitle(value, name):
    """A DICOM AE title: 1 to 16 printable ASCII characters, not only spaces, no leading or
    trailing space (DICOM ignores them), none of AETITLE_FORBIDDEN."""
    if not isinstance(value, str):
        return [_problem(name, value, 'is %s, not a string' % _kind(value), _AETITLE_ALLOWED)]
    bad = _first_not_in(value, _AETITLE_CHARS)
    if bad is not None:
        reason = 'contains %s' % describe_char(bad)
    elif not value.strip(' '):
        reason = 'is empty' if not value else 'is only spaces'
    elif len(value) > 16:
        reason = 'is %d characters long' % len(value)
    elif value != value.strip(' '):
        reason = 'has leading or trailing spaces (DICOM ignores them: write %s)' % show(value.strip(' '))
    elif value == '*':
        reason = 'is "*", which the gate reads as any AE title (to accept any, turn the check off instead)'
    else:
        return []
    return [_problem(name, value, reason, _AETITLE_ALLOWED)]


# ---------------------------------------------------------------------------------------------
# Addresses, networks and host names.

_IPV4 = re.compile(r'(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}')
_IPV4_LIKE = re.compile(r'[0-9.]+')
_IPV6_CHARS = re.compile(r'[0-9A-Fa-f:.]{2,45}')
_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOST_NAME = re.compile(r'(?:%s\.)*%s' % (_LABEL, _LABEL))
_PREFIX = re.compile(r'0|[1-9][0-9]{0,2}')
_IPV4_COMPATIBLE = ipaddress.IPv6Network('::/96')

ADDRESS_ALLOWED = 'an IPv4 address (four decimal numbers 0-255, no leading zeros) or an IPv6 address (no zone id)'
HOST_ALLOWED = ADDRESS_ALLOWED + ', or a host name (RFC 1123: labels of letters, digits and -, separated by dots)'
SOURCE_ALLOWED = HOST_ALLOWED + ', or a network in CIDR form with its host bits zero (10.1.0.0/16, fd00::/8)'
# Why a sender entry of the role matters: it becomes part of xinetd's only_from.
ONLY_FROM_NOTE = ' (one invalid only_from entry would make xinetd deny every sender)'


def _ipv4_reason(text):
    """Why text is not a strict dotted-quad IPv4 address, or None."""
    if not _IPV4.fullmatch(text):
        if _IPV4_LIKE.fullmatch(text):
            return 'is not four decimal numbers without leading zeros'
        return 'is not an IPv4 address'
    if any(int(part) > 255 for part in text.split('.')):
        return 'has a number over 255'
    return None


def _ipv6_reason(text):
    """Why text is not an IPv6 address the listener can use, or None."""
    if '%' in text:
        return 'has a zone id (%%%s), which is meaningless on a network the listener serves' % text.split('%', 1)[1]
    if ':' not in text or not _IPV6_CHARS.fullmatch(text):
        return 'is not an IPv6 address'
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return 'is not a valid IPv6 address'
    if address.ipv4_mapped is not None:
        return 'is an IPv4-mapped IPv6 address (the listener sees such senders as IPv4): write %s' % address.ipv4_mapped
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return 'is a deprecated IPv4-compatible IPv6 address: write %s' % ipaddress.IPv4Address(int(address))
    return None


def _address_reason(text):
    """Why text is not an IPv4 or IPv6 address, or None."""
    if ':' in text or '%' in text:
        return _ipv6_reason(text)
    return _ipv4_reason(text)


def _host_name_reason(text):
    """Why text is not an RFC 1123 host name, or None."""
    if len(text) > 253:
        return 'is %d characters long, over the 253 of a host name' % len(text)
    if text.endswith('.') and _HOST_NAME.fullmatch(text[:-1]):
        return 'ends in a dot: write it without'
    if not _HOST_NAME.fullmatch(text):
        for label in text.split('.'):
            if not label:
                return 'has an empty label (two dots in a row, or a dot first)'
            if len(label) > 63:
                return 'has a label of %d characters, over the 63 of a host name' % len(label)
            if label.startswith('-') or label.endswith('-'):
                return "has a label that starts or ends with '-'"
        return 'is not a host name'
    if text.rsplit('.', 1)[-1].isdigit():
        return 'ends in a number, so it is neither a host name nor a valid IPv4 address'
    return None


def _network_reason(text):
    """Why text is not a network in CIDR form with zero host bits, or None."""
    address, _sep, prefix = text.partition('/')
    reason = _address_reason(address)
    if reason:
        return 'has an address part that %s' % reason
    limit = 128 if ':' in address else 32
    if not _PREFIX.fullmatch(prefix):
        return 'has a prefix length that is not 0 to %d written in decimal' % limit
    if int(prefix) > limit:
        return 'has a prefix length over %d' % limit
    network = ipaddress.ip_network(text, strict=False)
    if network.network_address != ipaddress.ip_address(address):
        return 'has host bits set: for the network write %s, for the one host write %s' % (network, address)
    if int(prefix) == 0 and text != '0.0.0.0/0':
        return 'is a /0 network; the role accepts every sender only when it is written 0.0.0.0/0'
    return None


def _text(value, name, allowed):
    """[] when value is a string, else the problem saying it is not one."""
    if isinstance(value, str):
        return []
    return [_problem(name, value, 'is %s, not a string' % _kind(value), allowed)]


def _dispatch(value, name, allowed, networks, names):
    """Check an address, and (if allowed) a network or a host name, saying what was meant."""
    problems = _text(value, name, allowed)
    if problems:
        return problems
    if not value:
        return [_problem(name, value, 'is empty', allowed)]
    bad = _first_not_in(value, _SOURCE_CHARS)
    if bad is not None:
        return [_problem(name, value, 'contains %s' % describe_char(bad), allowed)]
    if '/' in value:
        reason = _network_reason(value) if networks else 'is a network; only a single address or host is allowed here'
    elif ':' in value or '%' in value:
        reason = _ipv6_reason(value)
    elif not names and _host_name_reason(value) is None:
        reason = 'is a host name; only an address is allowed here'
    elif _IPV4_LIKE.fullmatch(value) or not names:
        reason = _ipv4_reason(value)
        if reason and names and value.count('.') == 3:
            reason += ', and a name ending in a number is no host name'
    else:
        reason = _host_name_reason(value)
    return [_problem(name, value, reason, allowed)] if reason else []


_SOURCE_CHARS = frozenset('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:/%')


def ip_address(value, name):
    """An IPv4 or IPv6 address (a bind address)."""
    return _dispatch(value, name, ADDRESS_ALLOWED, networks=False, names=False)


def host(value, name, allowed=HOST_ALLOWED):
    """An IPv4 or IPv6 address or a host name (where a PACS is)."""
    return _dispatch(value, name, allowed, networks=False, names=True)


def source(value, name, allowed=SOURCE_ALLOWED):
    """An address, a network in CIDR form or a host name (who may send)."""
    return _dispatch(value, name, allowed, networks=True, names=True)


def sources(value, name):
    """A list of sources, as the role turns them into xinetd's only_from."""
    if not isinstance(value, (list, tuple)):
        return [_problem(name, value, 'is %s, not a list' % _kind(value), 'a list, each item ' + SOURCE_ALLOWED)]
    problems = []
    for index, item in enumerate(value):
        problems += source(item, '%s[%d]' % (name, index), SOURCE_ALLOWED + ONLY_FROM_NOTE)
    return problems


def is_host_name(value):
    """True for a valid entry that is a host name (neither an address nor a network)."""
    return (isinstance(value, str) and '/' not in value and _address_reason(value) is not None
            and _host_name_reason(value) is None)


# ---------------------------------------------------------------------------------------------
# Paths.

# POSIX's portable file name characters and the separator, plus '+'.
_PATH_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/')
PATH_ALLOWED = ('an absolute, normalised path (no //, /./, /../ or trailing /) of letters, digits and . _ - + / only, '
                'no component starting with -, at most 4095 characters and 255 per component')
CONTROLLER_PATH_ALLOWED = ('a path on the controller of letters, digits and . _ - + / only, '
                           'no component starting with -, at most 4095 characters')

# Directories the listener's directories may never be (they would be chowned to the listener).
SYSTEM_DIRS = frozenset((
    '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/lost+found',
    '/media', '/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/snap', '/srv', '/sys', '/tmp', '/usr',
    '/usr/bin', '/usr/include', '/usr/lib', '/usr/lib32', '/usr/lib64', '/usr/libexec', '/usr/local',
    '/usr/local/bin', '/usr/local/etc', '/usr/local/include', '/usr/local/lib', '/usr/local/libexec',
    '/usr/local/sbin', '/usr/local/share', '/usr/local/src', '/usr/sbin', '/usr/share', '/usr/src',
    '/var', '/var/backups', '/var/cache', '/var/lib', '/var/local', '/var/lock', '/var/log', '/var/mail',
    '/var/opt', '/var/run', '/var/spool', '/var/tmp', '/var/www',
))
# Trees the listener's directories may not be inside: kernel and run-time file systems, the
# system's own files, root's home, and world-writable dirs where another user may create them first.
NO_LISTENER_DIRS_INSIDE = ('/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc',
                           '/root', '/run', '/sbin', '/sys', '/tmp', '/usr', '/var/lock', '/var/run', '/var/tmp')
# Trees root never writes a file of the role into.
KERNEL_DIRS = ('/dev', '/proc', '/sys')


def _path_reason(text, absolute=True):
    """Why text is not a plain path, or None."""
    if not text:
        return 'is empty'
    bad = _first_not_in(text, _PATH_CHARS)
    if bad is not None:
        return 'contains %s' % describe_char(bad)
    if len(text) > 4095:
        return 'is %d characters long' % len(text)
    if absolute and not text.startswith('/'):
        return 'is not an absolute path'
    if text == '/':
        return None
    parts = text.split('/')
    if text.startswith('/'):
        parts = parts[1:]
    if '' in parts[:-1]:
        return 'has an empty component (//)'
    if parts[-1] == '':
        return 'ends in /'
    if absolute and ('.' in parts or '..' in parts):
        return "has a '.' or '..' component (it must be normalised)"
    for part in parts:
        if len(part) > 255:
            return 'has a component of %d characters' % len(part)
        if part.startswith('-'):
            return "has a component starting with '-'"
    return None


def within(path, directory):
    """True when path is directory or inside it (both normalised absolute paths)."""
    return path == directory or directory == '/' or path.startswith(directory + '/')


def absolute_path(value, name):
    """An absolute, normalised path of portable characters."""
    problems = _text(value, name, PATH_ALLOWED)
    if problems:
        return problems
    reason = _path_reason(value)
    return [_problem(name, value, reason, PATH_ALLOWED)] if reason else []


def root_path(value, name):
    """An absolute path root writes or installs into: not a system directory itself, not under
    /proc, /sys or /dev."""
    problems = absolute_path(value, name)
    if problems:
        return problems
    allowed = 'a path of its own, not a system directory, and outside %s' % ', '.join(KERNEL_DIRS)
    if value in SYSTEM_DIRS:
        return [_problem(name, value, 'is a system directory', allowed)]
    for directory in KERNEL_DIRS:
        if within(value, directory):
            return [_problem(name, value, 'is inside %s' % directory, allowed)]
    return []


def optional_root_path(value, name):
    """"" (none) or a root_path."""
    if value == '':
        return []
    return root_path(value, name)


def listener_dir(value, name):
    """A directory owned by the listener: an absolute path that is no system directory and not
    inside NO_LISTENER_DIRS_INSIDE."""
    problems = absolute_path(value, name)
    if problems:
        return problems
    allowed = ('a directory of the listener\'s own, such as /home/dicom/data or /srv/dicom: not a system '
               'directory and not inside %s' % ', '.join(NO_LISTENER_DIRS_INSIDE))
    if value in SYSTEM_DIRS:
        return [_problem(name, value, 'is a system directory, which the role would hand over to the listener', allowed)]
    for directory in NO_LISTENER_DIRS_INSIDE:
        if within(value, directory):
            return [_problem(name, value, 'is inside %s' % directory, allowed)]
    return []


def controller_path(value, name):
    """A path of a file on the controller (relative or absolute), of portable characters."""
    problems = _text(value, name, CONTROLLER_PATH_ALLOWED)
    if problems:
        return problems
    reason = _path_reason(value, absolute=False)
    return [_problem(name, value, reason, CONTROLLER_PATH_ALLOWED)] if reason else []


def optional_controller_path(value, name):
    """"" (none) or a controller_path."""
    if value == '':
        return []
    return controller_path(value, name)


# ---------------------------------------------------------------------------------------------
# Names.

_ACCOUNT = re.compile(r'[a-z_][a-z0-9_-]{0,31}')
_SERVICE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_-]{0,63}')
_PACS_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,63}')
ACCOUNT_ALLOWED = ('a POSIX user or group name: 1 to 32 characters, a lower-case letter or _ first, then lower-case '
                   'letters, digits, _ or -')
SERVICE_NAME_ALLOWED = ('1 to 64 letters, digits, _ or -, a letter or digit first (xinetd silently ignores service '
                        'files whose name contains a dot; the name is also a file and systemd unit name)')
PACS_NAME_ALLOWED = '1 to 64 letters, digits, _ . or -, a letter or digit first'


_LOWER_DIGITS = 'abcdefghijklmnopqrstuvwxyz0123456789'
_ACCOUNT_CHARS = frozenset(_LOWER_DIGITS + '_-')
_SERVICE_CHARS = frozenset(_LOWER_DIGITS + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_-')
_PACS_NAME_CHARS = _SERVICE_CHARS | frozenset('.')


def _named(value, name, pattern, allowed, chars, longest):
    problems = _text(value, name, allowed)
    if problems:
        return problems
    if pattern.fullmatch(value):
        return []
    bad = _first_not_in(value, chars)
    if not value:
        reason = 'is empty'
    elif bad is not None:
        reason = 'contains %s' % describe_char(bad)
    elif len(value) > longest:
        reason = 'is %d characters long' % len(value)
    else:
        reason = 'starts with %s' % describe_char(value[0])
    return [_problem(name, value, reason, allowed)]


def account(value, name):
    """A user or group name."""
    return _named(value, name, _ACCOUNT, ACCOUNT_ALLOWED, _ACCOUNT_CHARS, 32)


def service_name(value, name):
    """An xinetd service name, also a file name and the stem of systemd unit names."""
    return _named(value, name, _SERVICE_NAME, SERVICE_NAME_ALLOWED, _SERVICE_CHARS, 64)


# ---------------------------------------------------------------------------------------------
# xinetd and systemd settings.

_XINETD_WORD = re.compile(r'[-A-Za-z0-9_.,/=]{1,255}')
XINETD_OPTS_ALLOWED = ('a list of words of letters, digits and - _ . , / = (no spaces, quotes or newlines: it '
                       'becomes XINETD_OPTS), holding -stayalive')
LOG_ON_SUCCESS = ('PID', 'HOST', 'USERID', 'EXIT', 'DURATION', 'TRAFFIC')
LOG_ON_FAILURE = ('HOST', 'USERID', 'ATTEMPT')


def xinetd_opts(value, name):
    """xinetd's command-line options: a list of plain words that holds -stayalive."""
    if not isinstance(value, (list, tuple)):
        return [_problem(name, value, 'is %s, not a list' % _kind(value), XINETD_OPTS_ALLOWED)]
    problems = []
    for index, word in enumerate(value):
        item = '%s[%d]' % (name, index)
        if not isinstance(word, str):
            problems.append(_problem(item, word, 'is %s, not a string' % _kind(word), XINETD_OPTS_ALLOWED))
        elif not _XINETD_WORD.fullmatch(word):
            bad = _first_not_in(word, frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/='))
            reason = 'contains %s' % describe_char(bad) if bad is not None else 'is empty or too long'
            problems.append(_problem(item, word, reason, XINETD_OPTS_ALLOWED))
    if not problems and '-stayalive' not in value:
        problems.append('%s: %s must hold -stayalive, without which xinetd exits when it has no service left; '
                        'allowed: %s' % (name, show(value), XINETD_OPTS_ALLOWED))
    return problems


def log_flags(value, name, flags):
    """A list of xinetd log flags out of flags."""
    allowed = 'a list of %s' % ', '.join(flags)
    if not isinstance(value, (list, tuple)):
        return [_problem(name, value, 'is %s, not a list' % _kind(value), allowed)]
    return [_problem('%s[%d]' % (name, index), flag, 'is not an xinetd log flag here', allowed)
            for index, flag in enumerate(value) if not isinstance(flag, str) or flag not in flags]


CALENDAR_SHORTCUTS = ('minutely', 'hourly', 'daily', 'weekly', 'monthly', 'quarterly', 'semiannually',
                      'yearly', 'annually')
CALENDAR_ALLOWED = ('one of %s, or "[weekdays] [date] time" such as "*-*-* 03:15", "Mon..Fri *-*-* 02:00:00", '
                    '"*:0/15" (weekdays Mon..Sun with .. and ,; date Y-M-D of * or numbers; time H:M[:S] of *, '
                    'numbers, N..M ranges, N,M lists or N/step), separated by single spaces'
                    % ', '.join(CALENDAR_SHORTCUTS))
_WEEKDAY = r'(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
_WEEKDAYS = re.compile(r'{0}(?:\.\.{0})?(?:,{0}(?:\.\.{0})?)*'.format(_WEEKDAY))
_CAL_RANGE = re.compile(r'([0-9]{1,2})(?:\.\.([0-9]{1,2}))?')
_CAL_STEP = re.compile(r'([0-9]{1,2})/([0-9]{1,2})')
_CAL_YEAR = re.compile(r'\*|[0-9]{4}')
_CALENDAR_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-:.,/ ')


def _calendar_field(text, low, high):
    """True for a calendar field: *, N, N..M, lists of those, or N/step, within low..high."""
    if text == '*':
        return True
    step = _CAL_STEP.fullmatch(text)
    if step:
        return low <= int(step.group(1)) <= high and 1 <= int(step.group(2)) <= high
    for part in text.split(','):
        match = _CAL_RANGE.fullmatch(part)
        if not match:
            return False
        numbers = [int(n) for n in match.groups() if n is not None]
        if not all(low <= n <= high for n in numbers) or numbers != sorted(numbers):
            return False
    return True


def _calendar_time(text):
    fields = text.split(':')
    if len(fields) not in (2, 3):
        return False
    limits = ((0, 23), (0, 59), (0, 59))
    return all(_calendar_field(field, low, high) for field, (low, high) in zip(fields, limits))


def _calendar_date(text):
    fields = text.split('-')
    return (len(fields) == 3 and bool(_CAL_YEAR.fullmatch(fields[0]))
            and _calendar_field(fields[1], 1, 12) and _calendar_field(fields[2], 1, 31))


def on_calendar(value, name):
    """A systemd OnCalendar= value in a conservative grammar (see CALENDAR_ALLOWED)."""
    problems = _text(value, name, CALENDAR_ALLOWED)
    if problems:
        return problems
    if value in CALENDAR_SHORTCUTS:
        return []
    bad = _first_not_in(value, _CALENDAR_CHARS)
    if bad is not None:
        return [_problem(name, value, 'contains %s' % describe_char(bad), CALENDAR_ALLOWED)]
    if value != value.strip(' '):
        return [_problem(name, value, 'has leading or trailing spaces', CALENDAR_ALLOWED)]
    tokens = value.split(' ')
    good = 1 <= len(tokens) <= 3 and _calendar_time(tokens[-1])
    if good and len(tokens) == 3:
        good = bool(_WEEKDAYS.fullmatch(tokens[0])) and _calendar_date(tokens[1])
    elif good and len(tokens) == 2:
        good = bool(_WEEKDAYS.fullmatch(tokens[0])) or _calendar_date(tokens[0])
    if not good:
        return [_problem(name, value, 'is not a calendar event the role accepts', CALENDAR_ALLOWED)]
    return []


def dir_mode(value, name):
    """An octal directory mode string such as "0750": owner rwx, not world-writable, no
    setuid, setgid or sticky bit."""
    allowed = ('a quoted octal mode such as "0750" or "0755": the owner (the listener) with rwx, not '
               'world-writable, without setuid, setgid or sticky bits')
    if not isinstance(value, str):
        return [_problem(name, value, 'is %s, not a quoted string' % _kind(value), allowed)]
    if not re.fullmatch(r'[0-7]{3,4}', value):
        return [_problem(name, value, 'is not 3 or 4 octal digits', allowed)]
    mode = int(value, 8)
    if mode & 0o7000:
        reason = 'sets setuid, setgid or sticky bits'
    elif mode & 0o700 != 0o700:
        reason = 'does not give the owner read, write and search'
    elif mode & 0o002:
        reason = 'is world-writable'
    else:
        return []
    return [_problem(name, value, reason, allowed)]


# ---------------------------------------------------------------------------------------------
# pip and pypx.

_PCT = r'%[0-9A-Fa-f]{2}'
_URL = re.compile(r'(https?)://(?:((?:[A-Za-z0-9._~!&+,=-]|{0})+(?::(?:[A-Za-z0-9._~!&+,=-]|{0})*)?)@)?'
                  r'([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{{1,5}}))?'
                  r'((?:/(?:[A-Za-z0-9._~!&+,=:@-]|{0})*)*)'.format(_PCT))
_PIP_WORD = re.compile(r'(?:[A-Za-z0-9._~:/@=,+-]|{0})+'.format(_PCT))
_DIST_NAME = r'[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?'
_REQUIREMENT = re.compile(r'{0}(?:\[{0}(?:,{0})*\])?(?:(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+'
                          r'(?:,(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+)*)?'.format(_DIST_NAME))
_REQUIREMENT_URL = re.compile(r'(?:https?|file|git\+https|git\+ssh)://(?:[A-Za-z0-9._~!&+,=:@/#-]|{0})+'.format(_PCT))
_DIRECT_REFERENCE = re.compile(r'({0}) @ (.+)'.format(_DIST_NAME))
_PEP440 = re.compile(r'[0-9]{1,9}(?:\.[0-9]{1,9}){0,5}(?:(?:a|b|rc)[0-9]{1,9})?(?:\.post[0-9]{1,9})?(?:\.dev[0-9]{1,9})?')

INDEX_URL_ALLOWED = ('"" (PyPI), or an http(s) URL: https://[user[:password]@]host[:port]/path, with letters, digits, '
                     '. _ ~ ! & + , = : @ - and %XX escapes only')
PIP_ARGS_ALLOWED = ('"" or pip options separated by single spaces, each of letters, digits, . _ ~ : / @ = , + - '
                    'and %XX escapes (no quotes, ;, $ or other shell characters)')
REQUIREMENT_ALLOWED = ('a pip requirement: a project name with optional [extras] and version specifiers (rpudb, '
                       'rpudb==0.0.4), an http(s)/file/git+https URL, or "name @ URL"')
VERSION_ALLOWED = 'a quoted release version such as "3.12.6" (PEP 440: N.N.N, optionally aN, bN, rcN, .postN, .devN)'


def _url_reason(text):
    match = _URL.fullmatch(text)
    if not match:
        bad = _first_not_in(text, frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
                                            '._~!&+,=:@/[]%-'))
        return 'contains %s' % describe_char(bad) if bad is not None else 'is not such a URL'
    address, url_port = match.group(3), match.group(4)
    if address.startswith('['):
        reason = _ipv6_reason(address[1:-1])
    elif _IPV4_LIKE.fullmatch(address):
        reason = _ipv4_reason(address)
    else:
        reason = _host_name_reason(address)
    if reason:
        return 'has a host part that %s' % reason
    if url_port is not None and not (_DECIMAL.fullmatch(url_port) and 1 <= int(url_port) <= 65535):
        return 'has a port that is not 1 to 65535'
    return None


def pip_index_url(value, name):
    """"" or an http(s) package index URL."""
    problems = _text(value, name, INDEX_URL_ALLOWED)
    if problems or value == '':
        return problems
    if len(value) > 2048:
        reason = 'is %d characters long' % len(value)
    else:
        reason = _url_reason(value)
    return [_problem(name, value, reason, INDEX_URL_ALLOWED)] if reason else []


def pip_args(value, name):
    """"" or pip options separated by single spaces, of safe characters."""
    problems = _text(value, name, PIP_ARGS_ALLOWED)
    if problems or value == '':
        return problems
    if len(value) > 2048:
        return [_problem(name, value, 'is %d characters long' % len(value), PIP_ARGS_ALLOWED)]
    for word in value.split(' '):
        if not _PIP_WORD.fullmatch(word):
            bad = _first_not_in(word, frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
                                                '._~:/@=,+-'))
            if word == '':
                reason = 'has an empty word (two spaces in a row, or a leading or trailing space)'
            elif bad is not None and bad != '%':
                reason = 'contains %s' % describe_char(bad)
            else:
                reason = 'has a % that is not a %XX escape'
            return [_problem(name, value, reason, PIP_ARGS_ALLOWED)]
    return []


def pip_requirement(value, name):
    """A pip requirement: name[extras] with version specifiers, a URL, or name @ URL."""
    problems = _text(value, name, REQUIREMENT_ALLOWED)
    if problems:
        return problems
    if not value:
        return [_problem(name, value, 'is empty', REQUIREMENT_ALLOWED)]
    if len(value) > 2048:
        return [_problem(name, value, 'is %d characters long' % len(value), REQUIREMENT_ALLOWED)]
    direct = _DIRECT_REFERENCE.fullmatch(value)
    url = direct.group(2) if direct else value
    if _REQUIREMENT.fullmatch(value) or _REQUIREMENT_URL.fullmatch(url):
        return []
    bad = _first_not_in(value, frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
                                         '._~!&+,=:@/#[]<>*- '))
    reason = 'contains %s' % describe_char(bad) if bad is not None else 'is not such a requirement'
    return [_problem(name, value, reason, REQUIREMENT_ALLOWED)]


def version(value, name):
    """A release version string (PEP 440 public version, without epoch or local part)."""
    if not isinstance(value, str):
        return [_problem(name, value, 'is %s, not a quoted string' % _kind(value), VERSION_ALLOWED)]
    if _PEP440.fullmatch(value):
        return []
    bad = _first_not_in(value, frozenset('0123456789.abcdefghijklmnopqrstuvwxyz'))
    reason = 'contains %s' % describe_char(bad) if bad is not None else 'is not such a version'
    return [_problem(name, value, reason, VERSION_ALLOWED)]


# ---------------------------------------------------------------------------------------------
# Structured values.

PACS_KEYS = ('name', 'aetitle', 'host', 'port')
PACS_ALLOWED = 'a list of dicts, each with exactly the keys name, aetitle, host and port, with unique names'


def pacs(value, name, host_allowed=HOST_ALLOWED):
    """The remote PACS: a list of {name, aetitle, host, port} with unique names."""
    if not isinstance(value, (list, tuple)):
        return [_problem(name, value, 'is %s, not a list' % _kind(value), PACS_ALLOWED)]
    problems = []
    seen = {}
    for index, entry in enumerate(value):
        item = '%s[%d]' % (name, index)
        if not isinstance(entry, dict):
            problems.append(_problem(item, entry, 'is %s, not a dict' % _kind(entry), PACS_ALLOWED))
            continue
        keys = set(str(key) for key in entry)
        missing = [key for key in PACS_KEYS if key not in keys]
        unknown = sorted(keys - set(PACS_KEYS))
        if missing or unknown:
            what = []
            if missing:
                what.append('lacks %s' % ', '.join(missing))
            if unknown:
                what.append('has unknown keys %s' % ', '.join(unknown))
            problems.append('%s: the entry %s; allowed: %s' % (item, ' and '.join(what), PACS_ALLOWED))
        if 'name' in entry:
            problems += _named(entry['name'], item + '.name', _PACS_NAME, PACS_NAME_ALLOWED, _PACS_NAME_CHARS, 64)
            if isinstance(entry['name'], str):
                if entry['name'] in seen:
                    problems.append('%s.name: %s is also the name of %s[%d]; allowed: a name no other entry has '
                                    '(pypx looks the PACS up by name in services/pacs.json)'
                                    % (item, show(entry['name']), name, seen[entry['name']]))
                seen.setdefault(entry['name'], index)
        if 'aetitle' in entry:
            problems += aetitle(entry['aetitle'], item + '.aetitle')
        if 'host' in entry:
            problems += host(entry['host'], item + '.host', host_allowed)
        if 'port' in entry:
            problems += port(entry['port'], item + '.port')
    return problems


# ---------------------------------------------------------------------------------------------
# The role's variables.

def _between(minimum, maximum, unit=''):
    def check(value, name):
        return integer(value, name, minimum, maximum, unit)
    return check


def _one_of(*choices):
    def check(value, name):
        return choice(value, name, choices)
    return check


# Every variable of the role with the validator of its kind, in the order of defaults/main.yml.
VARIABLES = (
    ('dicom_listener_port', port),
    ('dicom_listener_bind_address', ip_address),
    ('dicom_listener_aetitle', aetitle),
    ('dicom_listener_base_dir', listener_dir),
    ('dicom_listener_tmp_dir', listener_dir),
    ('dicom_listener_log_dir', listener_dir),
    ('dicom_listener_data_dir', listener_dir),
    ('dicom_listener_dir_mode', dir_mode),
    ('dicom_listener_user', account),
    ('dicom_listener_group', account),
    ('dicom_listener_allow_root', boolean),
    ('dicom_listener_state', _one_of('present', 'absent')),
    ('dicom_listener_backend', _one_of('xinetd', 'systemd')),
    ('dicom_listener_service_name', service_name),
    ('dicom_listener_xinetd_dir', root_path),
    ('dicom_listener_pypx_version', version),
    ('dicom_listener_venv_dir', root_path),
    ('dicom_listener_px_listen_link', root_path),
    ('dicom_listener_rpudb_mode', _one_of('shim', 'pip', 'none')),
    ('dicom_listener_rpudb_package', pip_requirement),
    ('dicom_listener_pip_ca_bundle', optional_controller_path),
    ('dicom_listener_pip_index_url', pip_index_url),
    ('dicom_listener_pip_extra_args', pip_args),
    ('dicom_listener_wheelhouse', optional_controller_path),
    ('dicom_listener_seahash_fallback', boolean),
    ('dicom_listener_storescp_path', root_path),
    ('dicom_listener_storescp_wrapper', root_path),
    ('dicom_listener_acse_timeout', _between(1, 3600, ' seconds')),
    ('dicom_listener_dimse_timeout', _between(1, 86400, ' seconds')),
    ('dicom_listener_instances', _between(1, 10000)),
    ('dicom_listener_per_source', _between(1, 10000)),
    ('dicom_listener_cps', None),  # two numbers: see _cps
    ('dicom_listener_housekeeping', boolean),
    ('dicom_listener_housekeeping_min_age_hours', lambda value, name: number(value, name, 0, 8760, ' hours')),
    ('dicom_listener_housekeeping_schedule', on_calendar),
    ('dicom_listener_lean_launcher', boolean),
    ('dicom_listener_lean_filing', boolean),
    ('dicom_listener_storescp_debug', boolean),
    ('dicom_listener_xinetd_inetd_compat', boolean),
    ('dicom_listener_xinetd_opts', xinetd_opts),
    ('dicom_listener_tcp_nodelay', boolean),
    ('dicom_listener_log_on_success', lambda value, name: log_flags(value, name, LOG_ON_SUCCESS)),
    ('dicom_listener_log_on_failure', lambda value, name: log_flags(value, name, LOG_ON_FAILURE)),
    ('dicom_listener_verify', boolean),
    ('dicom_listener_verify_timeout', _between(1, 3600, ' seconds')),
    ('dicom_listener_verify_calling_aetitle', aetitle),
    ('dicom_listener_host_ip_env_file', optional_root_path),
    ('dicom_listener_pacs', lambda value, name: pacs(value, name, HOST_ALLOWED + ONLY_FROM_NOTE)),
    ('dicom_listener_allowed_sources', sources),
    ('dicom_listener_pypx_pacs_service', boolean),
    ('dicom_listener_receiver', _one_of('filer', 'px-listen')),
    ('dicom_listener_filer_workers', _between(1, 64)),
    ('dicom_listener_refile_after_minutes', _between(1, 1440, ' minutes')),
    ('dicom_listener_min_free_mb', _between(0, 16777216, ' MB (0 disables the check)')),
    ('dicom_listener_transfer_syntaxes', _one_of('all', 'uncompressed')),
    ('dicom_listener_called_aetitle_check', boolean),
    ('dicom_listener_calling_aetitle_check', boolean),
    ('dicom_listener_tls', boolean),
    ('dicom_listener_tls_cert', optional_controller_path),
    ('dicom_listener_tls_key', optional_controller_path),
    ('dicom_listener_tls_client_ca', optional_controller_path),
    ('dicom_listener_log_max_mb', _between(1, 65536, ' MB')),
    ('dicom_listener_log_retention_days', _between(1, 3650, ' days')),
    ('dicom_listener_metrics', boolean),
    ('dicom_listener_metrics_install_node_exporter', boolean),
    ('dicom_listener_metrics_textfile_dir', root_path),
    ('dicom_listener_report_paths', boolean),
)
VARIABLE_NAMES = tuple(name for name, _check in VARIABLES)
# Facts the role itself publishes (tasks/report.yml); not inputs.
PUBLISHED_FACTS = ('dicom_listener_host_ip', 'dicom_listener_info')
# Variables of the collection's status playbook (playbooks/status.yml), not of the role. They live in
# the same inventory as the role's variables (group_vars/pacs_gateways), so the role's check of
# unknown dicom_listener_* names must let them pass; status_problems() checks them for the playbook.
PLAYBOOK_VARIABLES = ('dicom_listener_status_fail_on', 'dicom_listener_status_min_free_percent')
# The directories the listener owns or may write into, innermost first.
LISTENER_DIR_VARIABLES = ('dicom_listener_tmp_dir', 'dicom_listener_log_dir', 'dicom_listener_data_dir',
                          'dicom_listener_base_dir')
# Paths root installs, writes or executes: never inside (or around) the listener's directories.
ROOT_PATH_VARIABLES = ('dicom_listener_venv_dir', 'dicom_listener_storescp_wrapper', 'dicom_listener_px_listen_link',
                       'dicom_listener_xinetd_dir', 'dicom_listener_host_ip_env_file',
                       'dicom_listener_metrics_textfile_dir')


def _cps(value, name):
    allowed = ('two integers [connections per second, seconds to pause], each written with digits only: '
               'the first 1 to 100000, the second 1 to 3600')
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return [_problem(name, value, 'is not a list of two numbers', allowed)]
    return integer(value[0], name + '[0]', 1, 100000) + integer(value[1], name + '[1]', 1, 3600, ' seconds')


_CHECKS = dict(VARIABLES, dicom_listener_cps=_cps)


def _layout_problems(variables, good):
    """The listener's directories distinct and not nested (all may sit under the base dir), and
    root's paths outside all of them."""
    problems = []
    dirs = [(name, variables[name]) for name in LISTENER_DIR_VARIABLES if name in good]
    subdirs = [(name, path) for name, path in dirs if name != 'dicom_listener_base_dir']
    for index, (name, path) in enumerate(subdirs):
        for other, other_path in subdirs[index + 1:]:
            if path == other_path:
                problems.append('%s and %s: both are %s; allowed: separate directories for tmp, log and data '
                                '(they may all sit under dicom_listener_base_dir)' % (name, other, show(path)))
            elif within(path, other_path) or within(other_path, path):
                inner, outer = (name, other) if within(path, other_path) else (other, name)
                problems.append('%s: %s is inside %s (%s); allowed: tmp, log and data dirs not nested in each '
                                'other (they may all sit under dicom_listener_base_dir)'
                                % (inner, show(variables[inner]), outer, show(variables[outer])))
    base = variables.get('dicom_listener_base_dir')
    if 'dicom_listener_base_dir' in good:
        for name, path in subdirs:
            if within(base, path):
                problems.append('dicom_listener_base_dir: %s is %s %s (%s); allowed: a base dir that holds the tmp, '
                                'log and data dirs or lies beside them' % (show(base), 'the same directory as'
                                                                           if base == path else 'inside', name,
                                                                           show(path)))
    for name in ROOT_PATH_VARIABLES:
        value = variables.get(name)
        if name not in good or not value:
            continue
        for dir_name, path in dirs:
            if within(value, path) or within(path, value):
                problems.append('%s: %s is %s %s (%s), which the listener owns or can write into, and root '
                                'installs, writes or runs this path; allowed: a path outside the listener\'s '
                                'directories' % (name, show(value), 'inside' if within(value, path) else 'around',
                                                 dir_name, show(path)))
                break
    return problems


def _address_book_problems(variables, good):
    """With the systemd backend the senders must be addresses or networks (IPAddressAllow=)."""
    if variables.get('dicom_listener_backend') != 'systemd':
        return []
    problems = []
    message = ('%s: %s is a host name, and dicom_listener_backend systemd enforces the access list with '
               'IPAddressAllow=, which takes addresses and networks only; allowed: its IPv4 or IPv6 address, or a '
               'network')
    if 'dicom_listener_allowed_sources' in good:
        for index, entry in enumerate(variables['dicom_listener_allowed_sources']):
            if is_host_name(entry):
                problems.append(message % ('dicom_listener_allowed_sources[%d]' % index, show(entry)))
    if 'dicom_listener_pacs' in good:
        for index, entry in enumerate(variables['dicom_listener_pacs']):
            if is_host_name(entry['host']):
                problems.append(message % ('dicom_listener_pacs[%d].host' % index, show(entry['host'])))
    return problems


def _relation_problems(variables, good):
    """Checks that relate several variables, each made only when those variables are good."""
    problems = []
    allow_root = as_boolean(variables.get('dicom_listener_allow_root'))
    if 'dicom_listener_allow_root' in good and not allow_root:
        if 'dicom_listener_user' in good and variables['dicom_listener_user'] == 'root':
            problems.append('dicom_listener_user is root: the listener parses data sent from the network and should '
                            'not run with root\'s rights; allowed: another user (the default is dicom), or '
                            'dicom_listener_allow_root: true to insist')
        if 'dicom_listener_group' in good and variables['dicom_listener_group'] == 'root':
            problems.append('dicom_listener_group is root: the listener\'s files would belong to the root group; '
                            'allowed: a group of its own (the default is dicom), or dicom_listener_allow_root: true '
                            'to insist')
    if 'dicom_listener_instances' in good and 'dicom_listener_per_source' in good:
        instances = _as_integer(variables['dicom_listener_instances'])[0]
        per_source = _as_integer(variables['dicom_listener_per_source'])[0]
        if per_source > instances:
            problems.append('dicom_listener_per_source: %s is more than dicom_listener_instances (%s); allowed: '
                            '1 to dicom_listener_instances (per_source at most instances)'
                            % (show(variables['dicom_listener_per_source']), show(variables['dicom_listener_instances'])))
    if all(name in good for name in ('dicom_listener_tls', 'dicom_listener_tls_cert', 'dicom_listener_tls_key',
                                     'dicom_listener_tls_client_ca')):
        if as_boolean(variables['dicom_listener_tls']):
            for name, what in (('dicom_listener_tls_cert', 'certificate'), ('dicom_listener_tls_key', 'private key')):
                if variables[name] == '':
                    problems.append('%s: "" is empty while dicom_listener_tls is true; allowed: the path on the '
                                    'controller of the listener\'s %s (PEM)' % (name, what))
        elif variables['dicom_listener_tls_client_ca'] != '':
            problems.append('dicom_listener_tls_client_ca: %s is set while dicom_listener_tls is false, so no client '
                            'certificate would be required; allowed: "" without TLS, or set dicom_listener_tls: true'
                            % show(variables['dicom_listener_tls_client_ca']))
    layout = _layout_problems(variables, good)
    names = ('dicom_listener_pypx_pacs_service', 'dicom_listener_base_dir', 'dicom_listener_log_dir')
    if not layout and all(name in good for name in names) and as_boolean(variables['dicom_listener_pypx_pacs_service']):
        base = variables['dicom_listener_base_dir'].rstrip('/') or '/'
        if variables['dicom_listener_log_dir'].rstrip('/').rsplit('/', 1)[0] != base:
            problems.append('dicom_listener_log_dir: %s is not directly in dicom_listener_base_dir (%s), where pypx '
                            'looks for its services/ dir (<log dir>/../services), which the role writes as root; '
                            'allowed: a log dir directly in the base dir, or dicom_listener_pypx_pacs_service: false'
                            % (show(variables['dicom_listener_log_dir']), show(variables['dicom_listener_base_dir'])))
    problems += layout
    problems += _address_book_problems(variables, good)
    return problems


def role_problems(variables):
    """Every problem with a dict of the role's variables (name -> value), in the order of
    VARIABLES, then the checks that relate variables; an empty list when all are good.

    Names that start with dicom_listener_ but are no variable of the role (a misspelling) are
    problems too; the facts the role publishes are ignored."""
    problems = []
    good = set()
    for name, _check in VARIABLES:
        if name not in variables:
            problems.append('%s: is not set; allowed: the role\'s default, or a value as meta/argument_specs.yml '
                            'describes it' % name)
            continue
        found = _CHECKS[name](variables[name], name)
        if found:
            problems += found
        else:
            good.add(name)
    problems += _relation_problems(variables, good)
    for name in sorted(variables):
        if (name in _CHECKS or name in PUBLISHED_FACTS or name in PLAYBOOK_VARIABLES
                or not name.startswith('dicom_listener_')):
            continue
        close = difflib.get_close_matches(name, VARIABLE_NAMES, n=1)
        problems.append('%s: is not a variable of the role dicom_listener%s; allowed: the variables listed in '
                        'meta/argument_specs.yml' % (name, ' (did you mean %s?)' % close[0] if close else ''))
    return problems


# ---------------------------------------------------------------------------------------------
# The status playbook's variables.

# The conditions dicom_listener_info reports under problems (module_utils/listener_state.py).
STATUS_CONDITIONS = ('listener', 'echo', 'pacs_echo', 'stranded', 'quarantined', 'disk', 'tls')
STATUS_FAIL_ON_DEFAULT = ('listener', 'echo', 'pacs_echo', 'stranded', 'quarantined', 'disk')
STATUS_FAIL_ON_ALLOWED = 'a list of conditions, each one of %s (an empty list fails on nothing)' % ', '.join(
    STATUS_CONDITIONS)


def status_fail_on(value, name):
    """The conditions the status playbook fails a gateway on."""
    if not isinstance(value, (list, tuple)):
        return [_problem(name, value, 'is %s, not a list' % _kind(value), STATUS_FAIL_ON_ALLOWED)]
    problems = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in STATUS_CONDITIONS:
            problems.append(_problem('%s[%d]' % (name, index), item, 'is no condition', STATUS_FAIL_ON_ALLOWED))
    return problems


def status_problems(variables):
    """Every problem with the status playbook's variables (PLAYBOOK_VARIABLES) present in variables."""
    problems = []
    if 'dicom_listener_status_fail_on' in variables:
        problems += status_fail_on(variables['dicom_listener_status_fail_on'], 'dicom_listener_status_fail_on')
    if 'dicom_listener_status_min_free_percent' in variables:
        problems += integer(variables['dicom_listener_status_min_free_percent'],
                            'dicom_listener_status_min_free_percent', 0, 100, ' %')
    return problems
