# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
# SPDX-License-Identifier: MIT

"""Unit tests for the xinetd configuration parser (module_utils/xinetd.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import xinetd

# Debian's stock /etc/xinetd.conf.
DEBIAN_XINETD_CONF = """\
# Simple configuration file for xinetd
#
# Some defaults, and include /etc/xinetd.d/

defaults
{

# Please note that you need a log_type line to be able to use log_on_success
# and log_on_failure. The default is the following :
# log_type = SYSLOG daemon info

}

includedir /etc/xinetd.d
"""

# Debian's /etc/xinetd.d/echo.
DEBIAN_ECHO = """\
# default: off
# description: An xinetd internal service which echo's characters back to
# clients.
# This is the tcp version.
service echo
{
\tdisable\t\t= yes
\ttype\t\t= INTERNAL
\tid\t\t= echo-stream
\tsocket_type\t= stream
\tprotocol\t= tcp
\tuser\t\t= root
\twait\t\t= no
}

# This is the udp version.
service echo
{
\tdisable\t\t= yes
\ttype\t\t= INTERNAL
\tid\t\t= echo-dgram
\tsocket_type\t= dgram
\tprotocol\t= udp
\tuser\t\t= root
\twait\t\t= yes
}
"""

# Debian's /etc/xinetd.d/time.
DEBIAN_TIME = """\
# default: off
# description: An RFC 868 time server. This protocol provides a
# site-independent, machine readable date and time. The Time service sends back
# to the originating source the time in seconds since midnight on January first
# 1900.
# This is the tcp version.
service time
{
\tdisable\t\t= yes
\ttype\t\t= INTERNAL
\tid\t\t= time-stream
\tsocket_type\t= stream
\tprotocol\t= tcp
\tuser\t\t= root
\twait\t\t= no
}

# This is the udp version.
service time
{
\tdisable\t\t= yes
\ttype\t\t= INTERNAL
\tid\t\t= time-dgram
\tsocket_type\t= dgram
\tprotocol\t= udp
\tuser\t\t= root
\twait\t\t= yes
}
"""

# pypx's own xinetd file for px-listen.
PYPX_DICOMLISTENER = """\
        service dicomlistener
        {
            disable             = no
            socket_type         = stream
            wait                = no
            user                = root
            server              = /usr/local/bin/storescp.sh
            server_args         = -t /tmp/data -p 11113 -E /usr/local/bin -D /home/dicom
            type                = UNLISTED
            port                = 10502
            bind                = 0.0.0.0
        }
"""

# The file the dicom_listener role of this collection renders.
RENDERED_DICOMLISTENER = """\
# Managed by Ansible (pacsgate.listener, role dicom_listener): local changes are overwritten.
service dicomlistener
{
    disable         = no
    type            = UNLISTED
    socket_type     = stream
    protocol        = tcp
    wait            = no
    port            = 10402
    bind            = 0.0.0.0
    user            = dicom
    group           = dicom
    server          = /usr/local/bin/px-listen
    server_args     = -t /home/dicom/tmp -l /home/dicom/log -d /home/dicom/data -e /usr/local/libexec/pacsgate/dicomlistener-storescp
    env             = TCP_NODELAY=1
    log_on_success  = HOST PID DURATION EXIT
    log_on_failure  = HOST ATTEMPT
}
"""

# A defaults entry whose values a service modifies with '+=' and '-='.
DEFAULTS_AND_SERVICE = """\
defaults
{
    log_type        = SYSLOG daemon info
    log_on_success  = PID HOST
    log_on_failure  = HOST ATTEMPT
    only_from       = 127.0.0.1
    instances       = 60
    cps             = 50 10
    env             = LANG=C
}

service dicomlistener
{
    socket_type     = stream
    wait            = no
    user            = dicom
    server          = /usr/local/bin/px-listen
    log_on_success  += DURATION
    log_on_failure  -= ATTEMPT
    only_from       += 10.0.0.0/8
    instances       = 10
}
"""


def _only_service(text):
    """The single service of ``text``."""
    services = xinetd.parse(text)['services']
    assert len(services) == 1
    return services[0]


def _rendered_attributes(**changes):
    """The attributes of the rendered file, with some replaced (None removes one)."""
    attributes = dict(_only_service(RENDERED_DICOMLISTENER)['attributes'])
    for name, values in changes.items():
        if values is None:
            del attributes[name]
        else:
            attributes[name] = values
    return attributes


# --- parse(): real-world files -------------------------------------------------------------


def test_debian_xinetd_conf_has_empty_defaults_and_includedir():
    result = xinetd.parse(DEBIAN_XINETD_CONF, source='/etc/xinetd.conf')
    assert result == {
        'defaults': {},
        'services': [],
        'includes': [{'directive': 'includedir', 'path': '/etc/xinetd.d', 'line': 14}],
    }


def test_debian_xinetd_conf_with_log_type_uncommented():
    text = DEBIAN_XINETD_CONF.replace('# log_type = SYSLOG daemon info', 'log_type = SYSLOG daemon info')
    assert xinetd.parse(text)['defaults'] == {'log_type': ['SYSLOG', 'daemon', 'info']}


def test_debian_echo_has_two_services_with_ids():
    services = xinetd.parse(DEBIAN_ECHO)['services']
    assert [(s['name'], s['line'], s['attributes']['id']) for s in services] == [
        ('echo', 5, ['echo-stream']),
        ('echo', 17, ['echo-dgram']),
    ]
    assert services[1]['attributes'] == {
        'disable': ['yes'], 'type': ['INTERNAL'], 'id': ['echo-dgram'], 'socket_type': ['dgram'],
        'protocol': ['udp'], 'user': ['root'], 'wait': ['yes'],
    }


def test_debian_echo_operations_keep_order_and_lines():
    stream = xinetd.parse(DEBIAN_ECHO)['services'][0]
    assert [(op['attribute'], op['op'], op['line']) for op in stream['operations']] == [
        ('disable', '=', 7), ('type', '=', 8), ('id', '=', 9), ('socket_type', '=', 10),
        ('protocol', '=', 11), ('user', '=', 12), ('wait', '=', 13),
    ]


@pytest.mark.parametrize('text', [DEBIAN_ECHO, DEBIAN_TIME], ids=['echo', 'time'])
def test_debian_internal_services_are_disabled_and_valid(text):
    result = xinetd.parse(text)
    for service in result['services']:
        attributes = xinetd.effective_attributes(service, result['defaults'])
        assert xinetd.validate_service(attributes, service['name']) == []
        summary = xinetd.service_summary(attributes)
        assert summary['disable'] is True
        assert summary['type'] == ['INTERNAL']
        assert summary['server'] is None


def test_debian_time_summary_of_udp_version():
    service = xinetd.parse(DEBIAN_TIME)['services'][1]
    summary = xinetd.service_summary(xinetd.effective_attributes(service, None))
    assert (summary['socket_type'], summary['protocol'], summary['wait'], summary['port']) == ('dgram', 'udp', True, None)
    assert summary['other'] == {'id': ['time-dgram']}


def test_pypx_dicomlistener_indented_file():
    service = _only_service(PYPX_DICOMLISTENER)
    assert service['name'] == 'dicomlistener'
    assert service['line'] == 1
    assert service['attributes']['server_args'] == ['-t', '/tmp/data', '-p', '11113', '-E', '/usr/local/bin', '-D', '/home/dicom']
    summary = xinetd.service_summary(xinetd.effective_attributes(service, None))
    assert summary['port'] == 10502
    assert summary['bind'] == '0.0.0.0'
    assert summary['server_args'] == '-t /tmp/data -p 11113 -E /usr/local/bin -D /home/dicom'
    assert summary['protocol'] is None
    assert xinetd.validate_service(service['attributes'], 'dicomlistener') == []


def test_rendered_dicomlistener_summary():
    service = _only_service(RENDERED_DICOMLISTENER)
    assert service['line'] == 2
    summary = xinetd.service_summary(xinetd.effective_attributes(service, None))
    assert summary == {
        'port': 10402,
        'bind': '0.0.0.0',
        'server': '/usr/local/bin/px-listen',
        'server_args': '-t /home/dicom/tmp -l /home/dicom/log -d /home/dicom/data -e /usr/local/libexec/pacsgate/dicomlistener-storescp',
        'user': 'dicom',
        'group': 'dicom',
        'disable': False,
        'socket_type': 'stream',
        'protocol': 'tcp',
        'wait': False,
        'type': ['UNLISTED'],
        'only_from': [],
        'no_access': [],
        'env': {'TCP_NODELAY': '1'},
        'passenv': [],
        'instances': None,
        'per_source': None,
        'cps': [],
        'log_type': [],
        'log_on_success': ['HOST', 'PID', 'DURATION', 'EXIT'],
        'log_on_failure': ['HOST', 'ATTEMPT'],
        'other': {},
    }


def test_rendered_dicomlistener_is_valid():
    assert xinetd.validate_service(_rendered_attributes(), 'dicomlistener') == []


def test_rendered_file_under_stock_debian_defaults():
    conf = xinetd.parse(DEBIAN_XINETD_CONF)
    service = _only_service(RENDERED_DICOMLISTENER)
    assert xinetd.effective_attributes(service, conf['defaults']) == service['attributes']


# --- parse(): syntax details ---------------------------------------------------------------


@pytest.mark.parametrize('text', ['service foo {\n  port = 1\n}\n', 'defaults {\n  instances = 10\n}\n'])
def test_brace_on_the_block_line_is_rejected(text):
    # xinetd reads such a block as one without '{' and silently drops it.
    with pytest.raises(xinetd.XinetdParseError) as exc:
        xinetd.parse(text)
    assert exc.value.line == 1
    assert 'on a line of its own' in exc.value.message


def test_include_directive():
    result = xinetd.parse('defaults\n{\n  instances = 10\n}\ninclude /etc/xinetd.local\n')
    assert result['defaults'] == {'instances': ['10']}
    assert result['includes'] == [{'directive': 'include', 'path': '/etc/xinetd.local', 'line': 5}]


def test_only_lines_starting_with_hash_are_comments():
    # As in xinetd, a '#' after a value is part of the value, not a comment.
    service = _only_service('# the listener\nservice foo\n{\n   # DICOM\n  server_args = -x # y\n}\n')
    assert service['attributes'] == {'server_args': ['-x', '#', 'y']}
    with pytest.raises(xinetd.XinetdParseError):
        xinetd.parse('service foo # the listener\n{\n}\n')


def test_attribute_without_values_is_an_empty_list():
    service = _only_service('service foo\n{\n  only_from =\n}\n')
    assert service['attributes'] == {'only_from': []}
    assert service['operations'][0]['values'] == []


def test_operator_needs_no_whitespace_after_it():
    assert _only_service('service foo\n{\n  only_from +=10.0.0.1 10.0.0.2\n}\n')['attributes'] == {'only_from': ['10.0.0.1', '10.0.0.2']}


def test_own_operations_apply_in_order():
    text = 'service foo\n{\n  only_from = 10.0.0.1\n  only_from += 10.0.0.2 10.0.0.1\n  only_from -= 10.0.0.1\n}\n'
    assert _only_service(text)['attributes'] == {'only_from': ['10.0.0.2']}


def test_interface_is_reported_as_bind():
    service = _only_service('service foo\n{\n  interface = 127.0.0.1\n}\n')
    assert service['operations'][0]['attribute'] == 'interface'
    assert service['attributes'] == {'bind': ['127.0.0.1']}


def test_assignment_in_defaults_is_cumulative_for_lists():
    result = xinetd.parse('defaults\n{\n  only_from = 127.0.0.1\n  only_from = 10.0.0.0/8\n}\n')
    assert result['defaults'] == {'only_from': ['127.0.0.1', '10.0.0.0/8']}


def test_carriage_return_stays_in_the_last_value():
    service = _only_service('service foo\r\n{\r\n  wait = no\r\n}\r\n')
    assert service['attributes'] == {'wait': ['no\r']}
    assert xinetd.validate_service(service['attributes']) == [
        "value 'no\\r' of 'wait' contains the control character U+000D",
        "missing required attribute 'socket_type'",
        "missing required attribute 'server'",
        "missing required attribute 'user'",
    ]


def test_parse_file_reads_utf8_and_names_the_source(tmp_path):
    path = tmp_path / 'dicomlistener'
    path.write_bytes(RENDERED_DICOMLISTENER.replace('px-listen', 'px-listen-\xe9').encode('utf-8') + b'# \xff\n')
    result = xinetd.parse_file(str(path))
    assert result['services'][0]['attributes']['server'] == ['/usr/local/bin/px-listen-\xe9']
    path.write_bytes(b'service foo\n{\n')
    with pytest.raises(xinetd.XinetdParseError) as excinfo:
        xinetd.parse_file(str(path))
    assert excinfo.value.source == str(path)


# --- parse(): errors -----------------------------------------------------------------------


@pytest.mark.parametrize('text, line, fragment', [
    ('port = 10402\n', 1, 'attribute outside'),
    ('service foo\n{\n  wait = no\n}\n\nwait = no\n', 6, 'attribute outside'),
    ('\n\nservice foo\n{\n  wait = no\n', 3, "end of file before the closing '}'"),
    ('defaults\n{\n', 1, "defaults: end of file"),
    ('service foo\n  wait = no\n}\n', 2, "expected '{'"),
    ('service foo\n', 1, "missing '{'"),
    ('service foo\n{\n  wait = no\nservice bar\n{\n}\n', 4, "'service' inside service 'foo'"),
    ('defaults\n{\ndefaults\n', 3, "'defaults' inside defaults"),
    ('# nothing open\n}\n', 2, "'}' without an open"),
    ('{\n}\n', 1, "'{' without a preceding"),
    ('service foo\n{\n  {\n}\n', 3, "unexpected '{'"),
    ('service foo\n{\n  wait no\n}\n', 3, "expected '=', '+=' or '-=' after attribute 'wait'"),
    ('service foo\n{\n  disable\n}\n', 3, "after attribute 'disable'"),
    ('service foo\n{\n  = no\n}\n', 3, 'empty attribute name'),
    ('service foo\n{\n  += HOST\n}\n', 3, 'empty attribute name'),
    ('service\n{\n}\n', 1, 'service without a name'),
    ('service {\n}\n', 1, 'service without a name'),
    ('service foo bar\n{\n}\n', 1, "unexpected text after 'service': bar"),
    ('servise foo\n{\n}\n', 1, "unknown keyword 'servise'"),
    ('includedir\n', 1, "'includedir' takes exactly one path"),
    ('include /etc/a /etc/b\n', 1, "'include' takes exactly one path"),
    ('defaults\n{\n}\ndefaults\n{\n}\n', 4, 'only one defaults entry'),
    ('service foo\n{\n  port=10402\n}\n', 3, "attribute 'port' needs whitespace before the operator '='"),
    ('service foo\n{\n  only_from+= 10.0.0.1\n}\n', 3, "attribute 'only_from' needs whitespace before the operator '+='"),
    ('service foo\n{\n  port = 1\n  port = 2\n}\n', 4, "'port' is already set on line 3"),
    ('service foo\n{\n  bind = 127.0.0.1\n  interface = ::1\n}\n', 4, 'already set on line 3'),
    ('service foo\n{\n  server_args += -v\n}\n', 3, "'server_args' only supports '=', not '+='"),
    ('service foo\n{\n  env -= TCP_NODELAY=1\n}\n', 3, "'env' does not support '-='"),
])
def test_syntax_errors_carry_line_numbers(text, line, fragment):
    with pytest.raises(xinetd.XinetdParseError) as excinfo:
        xinetd.parse(text, source='/etc/xinetd.d/test')
    error = excinfo.value
    assert error.line == line
    assert error.source == '/etc/xinetd.d/test'
    assert fragment in error.message
    assert str(error) == '/etc/xinetd.d/test:{0}: {1}'.format(line, error.message)


def test_parse_error_is_a_value_error_with_default_source():
    with pytest.raises(ValueError) as excinfo:
        xinetd.parse('}\n')
    assert str(excinfo.value) == "<string>:1: '}' without an open service or defaults entry"


def test_repeated_cumulative_attributes_and_unknown_attributes_are_not_parse_errors():
    text = 'service foo\n{\n  log_on_success = HOST\n  log_on_success += PID\n  chroot = /srv\n  chroot += /x\n}\n'
    assert _only_service(text)['attributes'] == {'log_on_success': ['HOST', 'PID'], 'chroot': ['/srv', '/x']}


# --- effective_attributes() ----------------------------------------------------------------


def test_effective_attributes_apply_service_operations_to_defaults():
    result = xinetd.parse(DEFAULTS_AND_SERVICE)
    attributes = xinetd.effective_attributes(result['services'][0], result['defaults'])
    assert attributes == {
        'log_type': ['SYSLOG', 'daemon', 'info'],
        'log_on_success': ['PID', 'HOST', 'DURATION'],
        'log_on_failure': ['HOST'],
        'only_from': ['127.0.0.1', '10.0.0.0/8'],
        'instances': ['10'],
        'cps': ['50', '10'],
        'socket_type': ['stream'],
        'wait': ['no'],
        'user': ['dicom'],
        'server': ['/usr/local/bin/px-listen'],
    }
    assert xinetd.validate_service(attributes, 'dicomlistener') == []


def test_effective_attributes_do_not_modify_the_parse_result():
    result = xinetd.parse(DEFAULTS_AND_SERVICE)
    xinetd.effective_attributes(result['services'][0], result['defaults'])
    assert result['defaults']['only_from'] == ['127.0.0.1']
    assert result['services'][0]['attributes']['only_from'] == ['10.0.0.0/8']


def test_effective_attributes_do_not_inherit_service_specific_attributes():
    defaults = {'env': ['LANG=C'], 'enabled': ['dicomlistener'], 'disabled': ['echo'], 'interface': ['127.0.0.1']}
    service = _only_service('service foo\n{\n  wait = no\n}\n')
    assert xinetd.effective_attributes(service, defaults) == {'bind': ['127.0.0.1'], 'wait': ['no']}


def test_service_assignment_replaces_inherited_list():
    result = xinetd.parse('defaults\n{\n  only_from = 127.0.0.1\n}\nservice foo\n{\n  only_from = 192.168.1.0/24\n}\n')
    assert xinetd.effective_attributes(result['services'][0], result['defaults'])['only_from'] == ['192.168.1.0/24']


def test_removing_from_an_absent_list_leaves_it_empty():
    service = _only_service('service foo\n{\n  no_access -= 10.0.0.1\n}\n')
    assert xinetd.effective_attributes(service, None) == {'no_access': []}


# --- service_summary() ---------------------------------------------------------------------


def test_summary_of_empty_attributes():
    summary = xinetd.service_summary({})
    assert summary['port'] is None and summary['wait'] is None and summary['server'] is None
    assert summary['disable'] is False
    assert summary['server_args'] == ''
    assert summary['env'] == {} and summary['other'] == {}


@pytest.mark.parametrize('values, expected', [(['10402'], 10402), (['dicom'], None), (['-1'], None), (['1', '2'], None), ([], None)])
def test_summary_port_is_an_int_or_none(values, expected):
    assert xinetd.service_summary({'port': values})['port'] == expected


def test_summary_keeps_unlimited_env_values_and_other_attributes():
    summary = xinetd.service_summary({
        'instances': ['UNLIMITED'], 'per_source': ['5'], 'env': ['DCMDICTPATH=/usr/share/dict.dic', 'A=b=c', 'BROKEN'],
        'flags': ['NODELAY', 'KEEPALIVE'], 'id': ['dicom'], 'disable': ['no'],
    })
    assert (summary['instances'], summary['per_source'], summary['disable']) == ('UNLIMITED', '5', False)
    assert summary['env'] == {'DCMDICTPATH': '/usr/share/dict.dic', 'A': 'b=c'}
    assert summary['other'] == {'flags': ['NODELAY', 'KEEPALIVE'], 'id': ['dicom']}


# --- validate_service() --------------------------------------------------------------------


@pytest.mark.parametrize('only_from', [
    ['localhost'], ['127.0.0.1', '::1'], ['10.0.0.0/8', '192.168.1.7/32', 'fe80::/10'], ['pacs.example.org', '.example.org'],
    ['0.0.0.0'], ['10.1.2.3/8'], [],
])
def test_valid_only_from_entries(only_from):
    assert xinetd.validate_service(_rendered_attributes(only_from=only_from, no_access=only_from)) == []


@pytest.mark.parametrize('entry', [
    '10.0.0.300', '1.2.3.4/33', '10.0', '10.0.0.0/255.0.0.0', '::1/129', 'pacs_host', '192.168.1.{1,2}', 'host.', '-pacs', '10.0.0.1,10.0.0.2',
])
def test_invalid_only_from_entry_is_reported(entry):
    assert xinetd.validate_service(_rendered_attributes(only_from=['127.0.0.1', entry]), 'dicomlistener') == [
        "service 'dicomlistener': only_from entry '{0}' is not an IP address, CIDR network or host name (xinetd denies every connection)".format(entry),
    ]


def test_invalid_no_access_entry_is_reported():
    assert xinetd.validate_service(_rendered_attributes(no_access=['256.1.1.1'])) == [
        "no_access entry '256.1.1.1' is not an IP address, CIDR network or host name (xinetd denies every connection)",
    ]


@pytest.mark.parametrize('port, problem', [
    (['0'], "port '0' is not an integer between 1 and 65535"),
    (['65536'], "port '65536' is not an integer between 1 and 65535"),
    (['dicom'], "port 'dicom' is not an integer between 1 and 65535"),
    (['104', '105'], "attribute 'port' takes 1 value(s), got 2: xinetd ignores the line"),
    (None, "missing required attribute 'port'"),
])
def test_bad_or_missing_port(port, problem):
    assert xinetd.validate_service(_rendered_attributes(port=port)) == [problem]


@pytest.mark.parametrize('changes, problems', [
    ({'server': None}, ["missing required attribute 'server'"]),
    ({'user': None, 'wait': None}, ["missing required attribute 'wait'", "missing required attribute 'user'"]),
    ({'socket_type': ['tcp']}, ["invalid value 'tcp' for 'socket_type' (expected one of: stream, dgram, raw, seqpacket)"]),
    ({'wait': ['nowait']}, ["invalid value 'nowait' for 'wait' (expected one of: yes, no)"]),
    ({'disable': ['true']}, ["invalid value 'true' for 'disable' (expected one of: yes, no)"]),
    ({'type': ['unlisted']}, ["invalid value 'unlisted' for 'type' (expected one of: RPC, INTERNAL, TCPMUX, TCPMUXPLUS, UNLISTED)"]),
    ({'log_on_failure': ['HOST', 'DURATION']}, ["invalid value 'DURATION' for 'log_on_failure' (expected one of: HOST, USERID, ATTEMPT)"]),
    ({'chroot': ['/srv']}, ["unknown attribute 'chroot'"]),
    ({'enabled': ['dicomlistener']}, ["attribute 'enabled' is only valid in the defaults entry"]),
    ({'env': ['TCP_NODELAY']}, ["env entry 'TCP_NODELAY' is not of the form NAME=value"]),
    ({'bind': ['0.0.0.0/0']}, ["bind '0.0.0.0/0' is not an IP address or host name"]),
    ({'instances': ['many']}, ["instances 'many' is not a non-negative integer or UNLIMITED"]),
    ({'cps': ['50']}, ["attribute 'cps' takes 2 value(s), got 1: xinetd ignores the line"]),
    ({'cps': ['50', 'ten']}, ["cps '50 ten' is not two non-negative integers"]),
    ({'server_args': ['-t', '/home/dicom/tmp\x00']}, ["value '/home/dicom/tmp\\x00' of 'server_args' contains the control character U+0000"]),
    ({'user': ['dicom\x1b[0m']}, ["value 'dicom\\x1b[0m' of 'user' contains the control character U+001B"]),
    ({'bad\x07name': ['x']}, ["unknown attribute 'bad\\x07name'", "attribute name 'bad\\x07name' contains the control character U+0007"]),
    ({'chroot': ['/srv\t']}, ["unknown attribute 'chroot'", "value '/srv\\t' of 'chroot' contains the control character U+0009"]),
    ({'port': ['104\r', '105']}, ["value '104\\r' of 'port' contains the control character U+000D"]),
])
def test_validate_service_problems(changes, problems):
    assert xinetd.validate_service(_rendered_attributes(**changes)) == problems


def test_internal_service_needs_neither_server_nor_user():
    assert xinetd.validate_service({'type': ['INTERNAL'], 'socket_type': ['stream'], 'wait': ['no']}) == []


def test_redirect_service_needs_no_server():
    attributes = {'socket_type': ['stream'], 'wait': ['no'], 'user': ['nobody'], 'redirect': ['10.0.0.5', '104'], 'port': ['104']}
    assert xinetd.validate_service(attributes) == []


def test_validate_reports_every_problem_in_attribute_order():
    attributes = {'zeta': ['1'], 'port': ['70000'], 'socket_type': ['stream'], 'wait': ['maybe'], 'user': ['dicom']}
    assert xinetd.validate_service(attributes, 'x.y') == [
        "service 'x.y': port '70000' is not an integer between 1 and 65535",
        "service 'x.y': invalid value 'maybe' for 'wait' (expected one of: yes, no)",
        "service 'x.y': unknown attribute 'zeta'",
        "service 'x.y': missing required attribute 'server'",
    ]


# --- the check the role runs before a service file replaces the live one ------------------------


def test_file_check_accepts_the_rendered_file(tmp_path):
    path = tmp_path / 'dicomlistener'
    path.write_text(RENDERED_DICOMLISTENER)
    conf = tmp_path / 'xinetd.conf'
    conf.write_text(DEBIAN_XINETD_CONF)
    assert xinetd.file_problems(str(path), 'dicomlistener', str(conf)) == []
    # No xinetd.conf at all (xinetd not installed yet) is no problem either.
    assert xinetd.file_problems(str(path), 'dicomlistener', str(tmp_path / 'none')) == []


@pytest.mark.parametrize('text, reason', [
    (RENDERED_DICOMLISTENER.replace('port            = 10402', 'port = 10402\n    port = x'), 'port'),
    (RENDERED_DICOMLISTENER.replace('service dicomlistener', 'service other'), 'exactly the service dicomlistener'),
    (RENDERED_DICOMLISTENER + RENDERED_DICOMLISTENER.replace('dicomlistener', 'second'), 'exactly the service'),
    ('service dicomlistener {\n}\n', 'own'),
])
def test_file_check_refuses_what_xinetd_would_skip(tmp_path, text, reason):
    path = tmp_path / 'dicomlistener'
    path.write_text(text)
    problems = xinetd.file_problems(str(path), 'dicomlistener', str(tmp_path / 'none'))
    assert problems and reason in ' '.join(problems)


def test_main_exit_codes(tmp_path, capsys):
    import sys
    good = tmp_path / 'good'
    good.write_text(RENDERED_DICOMLISTENER)
    bad = tmp_path / 'bad'
    bad.write_text(RENDERED_DICOMLISTENER.replace('wait            = no', 'wait = sometimes'))
    assert xinetd.main(['x', str(good), 'dicomlistener', str(tmp_path / 'none')], sys.stderr) == 0
    assert xinetd.main(['x', str(bad), 'dicomlistener', str(tmp_path / 'none')], sys.stderr) == 1
    assert 'wait' in capsys.readouterr().err
    assert xinetd.main(['x'], sys.stderr) == 2
