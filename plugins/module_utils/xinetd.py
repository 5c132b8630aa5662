# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Strict parser of xinetd configuration files (see xinetd.conf(5)).

The parser follows the line-oriented grammar xinetd itself uses: blocks are
introduced by ``service <name>`` or ``defaults`` and a ``{`` line, hold
``attribute <op> value value ...`` lines and end with a ``}`` line; outside
blocks only ``include`` and ``includedir`` directives are allowed.

Where xinetd merely logs a warning and then silently ignores a line or drops a
whole service, this parser raises :class:`XinetdParseError` instead, so that a
mistake is reported before xinetd is reloaded.  :func:`validate_service` adds
the checks that need the complete (effective) attribute set of a service.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import ipaddress
import re
import unicodedata

# Attribute names a service entry may use (xinetd.conf(5); xinetd/parse.c).
# Some are only compiled in on some builds (rpc_*, max_load, mdns, libwrap, rlimit_*).
SERVICE_ATTRIBUTES = frozenset((
    'id', 'type', 'flags', 'disable', 'socket_type', 'protocol', 'wait', 'user', 'group',
    'instances', 'nice', 'server', 'server_args', 'libwrap', 'only_from', 'no_access',
    'access_times', 'log_type', 'log_on_success', 'log_on_failure', 'rpc_version', 'rpc_number',
    'env', 'passenv', 'port', 'redirect', 'bind', 'interface', 'banner', 'banner_success',
    'banner_fail', 'per_source', 'cps', 'max_load', 'groups', 'mdns', 'umask',
    'rlimit_as', 'rlimit_cpu', 'rlimit_data', 'rlimit_rss', 'rlimit_stack',
    'deny_time', 'v6only',
))

# Attribute names the defaults entry may use; 'enabled' and 'disabled' are valid there only.
DEFAULTS_ATTRIBUTES = frozenset((
    'log_type', 'log_on_success', 'log_on_failure', 'disabled', 'enabled', 'no_access',
    'only_from', 'instances', 'passenv', 'banner', 'banner_success', 'banner_fail', 'bind',
    'interface', 'per_source', 'groups', 'cps', 'max_load', 'v6only', 'umask', 'mdns',
))

# Attributes that accept '+=' and '-=' and may appear several times in a service entry.
# All other known attributes accept '=' only, at most once per entry.
CUMULATIVE_ATTRIBUTES = frozenset(('only_from', 'no_access', 'log_on_success', 'log_on_failure', 'passenv', 'env'))

# In the defaults entry these are cumulative as well, and there '=' behaves like '+='.
CUMULATIVE_DEFAULTS_ATTRIBUTES = frozenset(('only_from', 'no_access', 'log_on_success', 'log_on_failure', 'passenv',
                                            'log_type', 'enabled', 'disabled'))

# Attributes a service takes over from the defaults entry when it does not set them itself.
INHERITED_ATTRIBUTES = frozenset((
    'log_type', 'log_on_success', 'log_on_failure', 'only_from', 'no_access', 'passenv',
    'instances', 'per_source', 'cps', 'banner', 'banner_success', 'banner_fail', 'groups',
    'umask', 'bind', 'max_load', 'v6only', 'mdns',
))

# xinetd treats 'interface' as another name for 'bind'; attribute dicts use 'bind'.
SYNONYMS = {'interface': 'bind'}

OPERATORS = ('+=', '-=', '=')

# Number of values an attribute takes when it is fixed; the others take any number.
_VALUE_COUNTS = {'redirect': 2, 'cps': 2}
_VALUE_COUNTS.update((attr, 1) for attr in (
    'id', 'disable', 'socket_type', 'protocol', 'wait', 'user', 'group', 'instances', 'nice',
    'server', 'libwrap', 'rpc_version', 'rpc_number', 'port', 'bind', 'interface', 'banner',
    'banner_success', 'banner_fail', 'per_source', 'max_load', 'groups', 'mdns', 'umask',
    'rlimit_as', 'rlimit_cpu', 'rlimit_data', 'rlimit_rss', 'rlimit_stack', 'deny_time', 'v6only',
))

_YES_NO = ('yes', 'no')

# Keyword-valued attributes and the values xinetd accepts for them (xinetd/nvlists.c).
_KEYWORDS = {
    'socket_type': ('stream', 'dgram', 'raw', 'seqpacket'),
    'wait': _YES_NO,
    'disable': _YES_NO,
    'groups': _YES_NO,
    'v6only': _YES_NO,
    'mdns': _YES_NO,
    'type': ('RPC', 'INTERNAL', 'TCPMUX', 'TCPMUXPLUS', 'UNLISTED'),
    'flags': ('INTERCEPT', 'NORETRY', 'IDONLY', 'NAMEINARGS', 'NODELAY', 'KEEPALIVE', 'NOLIBWRAP',
              'SENSOR', 'IPv4', 'IPv6', 'LABELED', 'REUSE'),
    'log_on_success': ('PID', 'HOST', 'USERID', 'EXIT', 'DURATION', 'TRAFFIC'),
    'log_on_failure': ('HOST', 'USERID', 'ATTEMPT'),
}

# Attributes that service_summary() reports under their own key.
_SUMMARY_KEYS = frozenset((
    'port', 'bind', 'server', 'server_args', 'user', 'group', 'disable', 'socket_type', 'protocol',
    'wait', 'type', 'only_from', 'no_access', 'env', 'passenv', 'instances', 'per_source', 'cps',
    'log_type', 'log_on_success', 'log_on_failure',
))

_DIGITS = re.compile(r'[0-9]+\Z')
_HOST_NAME = re.compile(r'\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\Z')
_CIDR = re.compile(r'[^/]+/[0-9]{1,3}\Z')
# xinetd separates values by blanks and tabs only, so other characters such as a
# carriage return stay part of a value (and validate_service reports them).
_VALUE_SEPARATOR = re.compile(r'[ \t]+')


class XinetdParseError(ValueError):
    """A syntax error in xinetd configuration text.

    ``source`` names the text (usually a file path), ``line`` is the 1-based
    line number and ``message`` describes the problem; ``str()`` gives
    ``'source:line: message'``.
    """

    def __init__(self, source, line, message):
        self.source = source
        self.line = line
        self.message = message
        super(XinetdParseError, self).__init__('{0}:{1}: {2}'.format(source, line, message))


def _split_values(text):
    """Split the value part of an attribute line into tokens the way xinetd does."""
    return [token for token in _VALUE_SEPARATOR.split(text) if token]


def _significant_lines(text):
    """Yield (line number, line) for every line that is neither blank nor a comment.

    As in xinetd, a comment is a line whose first non-blank character is '#'; a '#' further on
    is part of the value. Leading whitespace is removed, and trailing blanks and tabs; like
    xinetd, other trailing characters (a carriage return) are kept.
    """
    for number, raw in enumerate(text.split('\n'), 1):
        content = raw.lstrip()
        if content.strip() and not content.startswith('#'):
            yield number, content.rstrip(' \t')


def _parse_attribute_line(line, number, source):
    """Split an attribute line into (name, operator, values) or raise XinetdParseError."""
    if line.startswith(OPERATORS):
        raise XinetdParseError(source, number, 'empty attribute name')
    name = re.match(r'[^\s=]+', line).group(0)
    rest = line[len(name):]
    if rest.startswith('='):
        if name[-1] in '+-':
            name, operator = name[:-1], name[-1] + '='
        else:
            operator = '='
        raise XinetdParseError(source, number, "attribute '{0}' needs whitespace before the operator '{1}'".format(name, operator))
    rest = rest.lstrip()
    for operator in OPERATORS:
        if rest.startswith(operator):
            return name, operator, _split_values(rest[len(operator):])
    raise XinetdParseError(source, number, "expected '=', '+=' or '-=' after attribute '{0}'".format(name))


def _apply(attributes, name, operator, values, cumulative_assignment=False):
    """Apply one operation to an {attr: [values]} dict in place.

    '=' replaces (or adds, when ``cumulative_assignment`` is true, as in the
    defaults entry), '+=' appends the values not yet present and '-=' removes
    values; the synonym 'interface' is stored as 'bind'.
    """
    name = SYNONYMS.get(name, name)
    if operator == '=' and not cumulative_assignment:
        attributes[name] = list(values)
        return
    current = attributes.setdefault(name, [])
    if operator == '-=':
        attributes[name] = [value for value in current if value not in values]
    else:
        for value in values:
            if value not in current:
                current.append(value)


class _Block(object):
    """The service or defaults entry being read."""

    def __init__(self, kind, name, line):
        self.kind = kind
        self.name = name
        self.line = line
        self.operations = []
        self.attributes = {}
        self.assigned = {}

    def label(self):
        """How messages refer to this block."""
        return 'defaults' if self.kind == 'defaults' else "service '{0}'".format(self.name)

    def add(self, name, operator, values, number, source):
        """Record and apply one attribute line, rejecting what xinetd would ignore."""
        if self.kind == 'defaults':
            known, cumulative = DEFAULTS_ATTRIBUTES, CUMULATIVE_DEFAULTS_ATTRIBUTES
        else:
            known, cumulative = SERVICE_ATTRIBUTES, CUMULATIVE_ATTRIBUTES
        if name in known and name not in cumulative:
            if operator != '=':
                raise XinetdParseError(source, number, "{0}: attribute '{1}' only supports '=', not '{2}'".format(self.label(), name, operator))
            key = SYNONYMS.get(name, name)
            if key in self.assigned:
                raise XinetdParseError(source, number, "{0}: attribute '{1}' is already set on line {2}; xinetd would ignore this line".format(
                    self.label(), name, self.assigned[key]))
            self.assigned[key] = number
        if name == 'env' and operator == '-=':
            raise XinetdParseError(source, number, "{0}: attribute 'env' does not support '-='".format(self.label()))
        self.operations.append({'attribute': name, 'op': operator, 'values': values, 'line': number})
        _apply(self.attributes, name, operator, values, cumulative_assignment=self.kind == 'defaults' and name in cumulative)


def _open_block(tokens, number, source):
    """Start a block from a 'service <name>' or 'defaults' line; return (block, brace already seen)."""
    keyword = tokens[0]
    rest = tokens[1:]
    if keyword == 'service':
        if not rest or rest[0] == '{':
            raise XinetdParseError(source, number, 'service without a name')
        block = _Block('service', rest[0], number)
        rest = rest[1:]
    else:
        block = _Block('defaults', None, number)
    if rest == ['{']:
        raise XinetdParseError(source, number, "'{{' must be on a line of its own; xinetd silently drops {0}".format(
            block.label()))
    if rest:
        raise XinetdParseError(source, number, "unexpected text after '{0}': {1}".format(keyword, ' '.join(rest)))
    return block, False


def parse(text, source='<string>'):
    """Parse xinetd configuration text.

    Returns a dict::

        {
          'defaults': {attr: [values...]} or None if there is no defaults entry,
          'services': [{'name': str, 'line': int,
                        'operations': [{'attribute': str, 'op': '=' | '+=' | '-=', 'values': [str...], 'line': int}, ...],
                        'attributes': {attr: [values...]}}, ...],
          'includes': [{'directive': 'includedir' | 'include', 'path': str, 'line': int}, ...],
        }

    A service's 'attributes' are the result of its own operations applied in
    order ('interface' is reported as 'bind').  In the defaults entry '=' on a
    cumulative attribute (log_type, log_on_success, only_from, ...) adds to the
    values like '+=', as in xinetd.  Raises :class:`XinetdParseError` with the
    line number on a syntax error, on '+=' or '-=' for an attribute that only
    supports '=', on a second assignment of such an attribute, on 'env -=' and
    on a second defaults entry.
    """
    result = {'defaults': None, 'services': [], 'includes': []}
    block = None
    expecting_brace = False
    for number, line in _significant_lines(text):
        tokens = line.split()
        bare = line.strip()
        if expecting_brace:
            if bare != '{':
                raise XinetdParseError(source, number, "{0} (line {1}): expected '{{' on a line of its own".format(block.label(), block.line))
            expecting_brace = False
        elif block is None:
            if tokens[0] in ('service', 'defaults'):
                if tokens[0] == 'defaults' and result['defaults'] is not None:
                    raise XinetdParseError(source, number, 'only one defaults entry is allowed')
                block, has_brace = _open_block(tokens, number, source)
                expecting_brace = not has_brace
            elif tokens[0] in ('include', 'includedir'):
                if len(tokens) != 2:
                    raise XinetdParseError(source, number, "'{0}' takes exactly one path".format(tokens[0]))
                result['includes'].append({'directive': tokens[0], 'path': tokens[1], 'line': number})
            elif bare == '}':
                raise XinetdParseError(source, number, "'}' without an open service or defaults entry")
            elif bare == '{':
                raise XinetdParseError(source, number, "'{' without a preceding 'service <name>' or 'defaults' line")
            elif line.startswith(OPERATORS) or re.match(r'[^\s=]+\s*(\+=|-=|=)', line):
                raise XinetdParseError(source, number, 'attribute outside a service or defaults entry: {0}'.format(line))
            else:
                raise XinetdParseError(source, number, "unknown keyword '{0}'".format(tokens[0]))
        elif bare == '}':
            if block.kind == 'defaults':
                result['defaults'] = block.attributes
            else:
                result['services'].append({
                    'name': block.name, 'line': block.line, 'operations': block.operations, 'attributes': block.attributes,
                })
            block = None
        elif bare == '{':
            raise XinetdParseError(source, number, "unexpected '{{' inside {0} (line {1})".format(block.label(), block.line))
        elif tokens[0] in ('service', 'defaults') and (len(tokens) == 1 or tokens[1] not in OPERATORS):
            raise XinetdParseError(source, number, "'{0}' inside {1} (line {2}): missing '}}'?".format(tokens[0], block.label(), block.line))
        else:
            name, operator, values = _parse_attribute_line(line, number, source)
            block.add(name, operator, values, number, source)
    if block is not None:
        problem = "missing '{'" if expecting_brace else "end of file before the closing '}'"
        raise XinetdParseError(source, block.line, '{0}: {1}'.format(block.label(), problem))
    return result


def parse_file(path):
    """Read the file at ``path`` (UTF-8, undecodable bytes replaced) and parse() it with source=path.

    Line endings are kept as they are, so a carriage return left by a
    DOS-style file stays part of the last value on its line, as in xinetd.
    """
    with io.open(path, 'r', encoding='utf-8', errors='replace', newline='') as handle:
        return parse(handle.read(), source=path)


def effective_attributes(service, defaults):
    """Return the attributes xinetd would use for ``service`` as {attr: [values]}.

    ``service`` is an element of ``parse()['services']`` and ``defaults`` is
    ``parse()['defaults']`` (or None).  Attributes xinetd takes over from the
    defaults entry (see INHERITED_ATTRIBUTES; not env, server, port, user, ...)
    start from the defaults values; then the service's own operations apply in
    order: '=' replaces, '+=' appends values not yet present, '-=' removes
    values.  The defaults-only global lists 'enabled' and 'disabled' are not
    service attributes and are not included.
    """
    attributes = {}
    for name, values in (defaults or {}).items():
        name = SYNONYMS.get(name, name)
        if name in INHERITED_ATTRIBUTES:
            attributes[name] = list(values)
    for operation in service['operations']:
        _apply(attributes, operation['attribute'], operation['op'], operation['values'])
    return attributes


def _single(attributes, name):
    """The values of a single-valued attribute joined by a space, or None when it has none."""
    values = attributes.get(name)
    return ' '.join(values) if values else None


def _yes_no(attributes, name):
    """True for 'yes', False for 'no', None for anything else or a missing attribute."""
    return {'yes': True, 'no': False}.get(_single(attributes, name))


def service_summary(attributes):
    """Flatten an effective attributes dict into the JSON-friendly facts an operator needs.

    Keys: port (int, or None when missing or not an integer), bind, server,
    user, group, socket_type, protocol, instances, per_source (str or None;
    'UNLIMITED' is kept), server_args (str, '' if none), disable (bool, True
    only for 'yes'), wait (bool or None), env (dict NAME -> value from the
    NAME=value tokens), the lists type, only_from, no_access, passenv, cps,
    log_type, log_on_success and log_on_failure, and 'other' holding every
    remaining attribute -> list of values.
    """
    port = _single(attributes, 'port')
    env = {}
    for token in attributes.get('env', []):
        if '=' in token:
            key, value = token.split('=', 1)
            env[key] = value
    summary = {
        'port': int(port) if port is not None and _DIGITS.match(port) else None,
        'server_args': ' '.join(attributes.get('server_args', [])),
        'disable': _single(attributes, 'disable') == 'yes',
        'wait': _yes_no(attributes, 'wait'),
        'env': env,
        'other': dict((name, list(values)) for name, values in attributes.items() if name not in _SUMMARY_KEYS),
    }
    for name in ('bind', 'server', 'user', 'group', 'socket_type', 'protocol', 'instances', 'per_source'):
        summary[name] = _single(attributes, name)
    for name in ('type', 'only_from', 'no_access', 'passenv', 'cps', 'log_type', 'log_on_success', 'log_on_failure'):
        summary[name] = list(attributes.get(name, []))
    return summary


def _is_host_name(value):
    """True for a host name or a '.domain' suffix whose last label is not all digits."""
    return bool(_HOST_NAME.match(value)) and not value.rsplit('.', 1)[-1].isdigit()


def _is_ip_address(value):
    """True for an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _is_address_entry(value):
    """True for an only_from/no_access entry: IPv4/IPv6 address, CIDR network, 'localhost' or host name."""
    if _is_ip_address(value):
        return True
    if '/' in value:
        if not _CIDR.match(value):
            return False
        try:
            ipaddress.ip_network(value, strict=False)
            return True
        except ValueError:
            return False
    return _is_host_name(value)


def _control_character(text):
    """The first control character in ``text``, or None."""
    for char in text:
        if unicodedata.category(char) == 'Cc':
            return char
    return None


def _is_count(value):
    """True for 'UNLIMITED' or a non-negative decimal integer (instances, per_source)."""
    return value == 'UNLIMITED' or bool(_DIGITS.match(value))


def _control_problems(name, values):
    """Problems with control characters in an attribute's name or values."""
    problems = []
    char = _control_character(name)
    if char is not None:
        problems.append("attribute name {0!r} contains the control character U+{1:04X}".format(name, ord(char)))
    for value in values:
        char = _control_character(value)
        if char is not None:
            problems.append("value {0!r} of {1!r} contains the control character U+{2:04X}".format(value, name, ord(char)))
    return problems


def _value_problems(name, values):
    """Problems with the values of one known attribute whose values hold no control characters."""
    problems = []
    expected = _VALUE_COUNTS.get(name)
    if expected is not None and len(values) != expected:
        problems.append("attribute '{0}' takes {1} value(s), got {2}: xinetd ignores the line".format(name, expected, len(values)))
    elif name in _KEYWORDS:
        for value in values:
            if value not in _KEYWORDS[name]:
                problems.append("invalid value '{0}' for '{1}' (expected one of: {2})".format(value, name, ', '.join(_KEYWORDS[name])))
    elif name == 'port':
        if not _DIGITS.match(values[0]) or not 1 <= int(values[0]) <= 65535:
            problems.append("port '{0}' is not an integer between 1 and 65535".format(values[0]))
    elif name in ('only_from', 'no_access'):
        for value in values:
            if not _is_address_entry(value):
                problems.append("{0} entry '{1}' is not an IP address, CIDR network or host name (xinetd denies every connection)".format(name, value))
    elif name in ('bind', 'interface'):
        if not _is_ip_address(values[0]) and not _is_host_name(values[0]):
            problems.append("{0} '{1}' is not an IP address or host name".format(name, values[0]))
    elif name in ('instances', 'per_source'):
        if not _is_count(values[0]):
            problems.append("{0} '{1}' is not a non-negative integer or UNLIMITED".format(name, values[0]))
    elif name == 'cps':
        if not all(_DIGITS.match(value) for value in values):
            problems.append("cps '{0}' is not two non-negative integers".format(' '.join(values)))
    elif name == 'env':
        for value in values:
            if '=' not in value:
                problems.append("env entry '{0}' is not of the form NAME=value".format(value))
    return problems


def validate_service(attributes, name=None):
    """Check an effective attributes dict strictly; return a list of problems (empty when fine).

    Reported: unknown attribute names (and 'enabled'/'disabled', which only the
    defaults entry may use), wrong numbers of values, control characters in
    values, invalid keyword values (socket_type, wait, disable, type, flags,
    log_on_success, log_on_failure, groups, v6only, mdns), a port that is not
    an integer 1..65535, only_from/no_access entries that are not an IPv4/IPv6
    address, CIDR network, 'localhost' or host name, a bad bind address,
    instances/per_source/cps values, env tokens without '=', and missing
    required attributes: socket_type and wait always, server (unless the
    service is INTERNAL or uses redirect) and user unless INTERNAL, and port
    for an UNLISTED service that is neither RPC nor TCPMUX.  ``name`` only
    prefixes the messages.
    """
    prefix = "service '{0}': ".format(name) if name else ''
    problems = []
    for attr in sorted(attributes):
        if attr in ('enabled', 'disabled'):
            problems.append("attribute '{0}' is only valid in the defaults entry".format(attr))
        elif attr not in SERVICE_ATTRIBUTES:
            problems.append('unknown attribute {0!r}'.format(attr))
        control = _control_problems(attr, attributes[attr])
        problems.extend(control)
        if attr in SERVICE_ATTRIBUTES and not control:
            problems.extend(_value_problems(attr, attributes[attr]))
    types = attributes.get('type', [])
    required = ['socket_type', 'wait']
    if 'INTERNAL' not in types:
        if 'redirect' not in attributes:
            required.append('server')
        required.append('user')
    if 'UNLISTED' in types and not set(types) & set(('RPC', 'TCPMUX', 'TCPMUXPLUS')):
        required.append('port')
    for attr in required:
        if attr not in attributes:
            problems.append("missing required attribute '{0}'".format(attr))
    return [prefix + problem for problem in problems]


def file_problems(path, name, conf='/etc/xinetd.conf'):
    """Every reason not to install the service file ``path`` as the service ``name``, as strings.

    The file must hold exactly that service, and its attributes with the defaults of ``conf`` (when it
    exists) must pass :func:`validate_service`."""
    try:
        parsed = parse_file(path)
    except (IOError, OSError, XinetdParseError) as exc:
        return [str(exc)]
    names = [service['name'] for service in parsed['services']]
    if names != [name]:
        return ['{0} must hold exactly the service {1}; it holds {2}'.format(path, name, names or 'none')]
    defaults = None
    try:
        defaults = parse_file(conf)['defaults']
    except (IOError, OSError) as exc:
        if getattr(exc, 'errno', None) != 2:
            return ['cannot read the defaults in {0}: {1}'.format(conf, exc)]
    except XinetdParseError as exc:
        return ['cannot read the defaults in {0}: {1}'.format(conf, exc)]
    return validate_service(effective_attributes(parsed['services'][0], defaults), name)


def main(argv, stderr):
    """The check the dicom_listener role runs before a rendered service file replaces the live one
    (``python -m pacsgate_listener.xinetd FILE SERVICE [XINETD_CONF]``): xinetd has no parse-only
    mode, exits 0 even when every service is invalid and skips a broken service with a log line.
    Returns 0 when the file is fine, 1 with one reason a line on stderr otherwise, 2 on wrong usage."""
    if len(argv) not in (3, 4):
        stderr.write('usage: python -m pacsgate_listener.xinetd FILE SERVICE [XINETD_CONF]\n')
        return 2
    problems = file_problems(argv[1], argv[2], argv[3] if len(argv) == 4 else '/etc/xinetd.conf')
    for problem in problems:
        stderr.write(problem + '\n')
    return 1 if problems else 0


if __name__ == '__main__':
    import sys
    raise SystemExit(main(sys.argv, sys.stderr))
