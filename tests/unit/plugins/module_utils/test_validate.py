# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the validators (module_utils/validate.py) and of the filter the role's preflight
runs them through (filter/dicom_listener_problems.py).

The bad values are given to the whole role at once: the role's defaults with that one value
changed must give exactly one problem, and it must name the variable."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import jinja2
import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.filter import dicom_listener_problems as problems_filter
from ansible_collections.pacsgate.listener.plugins.module_utils import validate

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..')
ROLE = os.path.join(ROOT, 'roles', 'dicom_listener')


def rendered_defaults():
    """defaults/main.yml with its templates ({{ dicom_listener_base_dir }}/tmp...) rendered."""
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as handle:
        values = yaml.safe_load(handle)
    for _round in range(3):
        values = dict((name, jinja2.Template(value).render(**values) if isinstance(value, str) else value)
                      for name, value in values.items())
    return values


DEFAULTS = rendered_defaults()
V = 'dicom_listener_'
GOOD_PACS = {'name': 'main', 'aetitle': 'HOSPITALPACS', 'host': '10.1.2.3', 'port': 104}


def pacs(**changes):
    entry = dict(GOOD_PACS)
    entry.update(changes)
    return [entry]


# (changes to the defaults, the name the one problem must give). A change is (variable, value) or a
# dict of several variables (for the checks that relate them).
BAD = [
    # integers: ports, timeouts, limits
    (('port', '10402\n'), 'port'),
    (('port', '10_402'), 'port'),
    (('port', '+10402'), 'port'),
    (('port', ' 10402'), 'port'),
    (('port', '010402'), 'port'),
    (('port', '0x2842'), 'port'),
    (('port', '\u0661\u0660\u0664'), 'port'),
    (('port', True), 'port'),
    (('port', 10402.0), 'port'),
    (('port', 0), 'port'),
    (('port', 65536), 'port'),
    (('port', '70000'), 'port'),
    (('port', 'abc'), 'port'),
    (('port', None), 'port'),
    (('acse_timeout', 0), 'acse_timeout'),
    (('acse_timeout', '30s'), 'acse_timeout'),
    (('dimse_timeout', -1), 'dimse_timeout'),
    (('verify_timeout', '1e3'), 'verify_timeout'),
    (('instances', 0), 'instances'),
    (('per_source', 1000), 'per_source'),
    (('cps', [0, 5]), 'cps[0]'),
    (('cps', [200]), 'cps'),
    (('cps', '200 5'), 'cps'),
    (('cps', [200, True]), 'cps[1]'),
    (('filer_workers', 0), 'filer_workers'),
    (('filer_workers', 65), 'filer_workers'),
    (('filer_workers', '2\n'), 'filer_workers'),
    (('refile_after_minutes', 1441), 'refile_after_minutes'),
    (('min_free_mb', -1), 'min_free_mb'),
    (('min_free_mb', '1024 '), 'min_free_mb'),
    (('log_max_mb', 0), 'log_max_mb'),
    (('log_retention_days', 3651), 'log_retention_days'),
    (('housekeeping_min_age_hours', '24h'), 'housekeeping_min_age_hours'),
    (('housekeeping_min_age_hours', -1), 'housekeeping_min_age_hours'),
    (('housekeeping_min_age_hours', float('nan')), 'housekeeping_min_age_hours'),
    (('housekeeping_min_age_hours', True), 'housekeeping_min_age_hours'),
    # booleans and choices
    (('allow_root', 'yes\n'), 'allow_root'),
    (('allow_root', 'maybe'), 'allow_root'),
    (('tls', 2), 'tls'),
    (('metrics', '1.0'), 'metrics'),
    (('report_paths', None), 'report_paths'),
    (('called_aetitle_check', ' true'), 'called_aetitle_check'),
    (('state', 'gone'), 'state'),
    (('state', 'present\n'), 'state'),
    (('backend', 'systemd\n'), 'backend'),
    (('rpudb_mode', 'shims'), 'rpudb_mode'),
    (('receiver', 'pxlisten'), 'receiver'),
    (('transfer_syntaxes', 'compressed'), 'transfer_syntaxes'),
    # AE titles
    (('aetitle', ''), 'aetitle'),
    (('aetitle', '*'), 'aetitle'),
    (('verify_calling_aetitle', '*'), 'verify_calling_aetitle'),
    (('aetitle', '    '), 'aetitle'),
    (('aetitle', 'THIS_AE_TITLE_IS_TOO_LONG'), 'aetitle'),
    (('aetitle', 'CHRIS\\LOCAL'), 'aetitle'),
    (('aetitle', 'CHRIS\nport = 1'), 'aetitle'),
    (('aetitle', 'CHRISLOCAL\n'), 'aetitle'),
    (('aetitle', 'CHRIS\0'), 'aetitle'),
    (('aetitle', 'CHRIS\u2028'), 'aetitle'),
    (('aetitle', 'CHRIS%i'), 'aetitle'),
    (('aetitle', "CHRIS'"), 'aetitle'),
    (('aetitle', 'CHRIS;'), 'aetitle'),
    (('aetitle', '$(reboot)'), 'aetitle'),
    (('aetitle', '`id`'), 'aetitle'),
    (('aetitle', ' CHRIS'), 'aetitle'),
    (('aetitle', 'CHR\u00cfS'), 'aetitle'),
    (('aetitle', 12345), 'aetitle'),
    (('verify_calling_aetitle', ''), 'verify_calling_aetitle'),
    # addresses, networks and host names
    (('bind_address', '0.0.0.0\n'), 'bind_address'),
    (('bind_address', '0.0.0.0\nonly_from = 0.0.0.0/0'), 'bind_address'),
    (('bind_address', 'gateway.example.org'), 'bind_address'),
    (('bind_address', '1.2.3'), 'bind_address'),
    (('bind_address', '01.2.3.4'), 'bind_address'),
    (('bind_address', '256.0.0.1'), 'bind_address'),
    (('bind_address', 'fe80::1%eth0'), 'bind_address'),
    (('bind_address', '::ffff:10.0.0.1'), 'bind_address'),
    (('bind_address', '::10.0.0.1'), 'bind_address'),
    (('bind_address', '10.0.0.0/8'), 'bind_address'),
    (('bind_address', '::1\u2029'), 'bind_address'),
    (('bind_address', '1:2:3:4:5:6:7:8:9'), 'bind_address'),
    (('bind_address', ':::'), 'bind_address'),
    (('allowed_sources', ['10.0.0.300']), 'allowed_sources[0]'),
    (('allowed_sources', ['10.1.0.0/33']), 'allowed_sources[0]'),
    (('allowed_sources', ['10.0.0.1/8']), 'allowed_sources[0]'),
    (('allowed_sources', ['::/0']), 'allowed_sources[0]'),
    (('allowed_sources', ['10.0.0.0/08']), 'allowed_sources[0]'),
    (('allowed_sources', ['fe80::/129']), 'allowed_sources[0]'),
    (('allowed_sources', ['::ffff:10.0.0.0/104']), 'allowed_sources[0]'),
    (('allowed_sources', ['10.1.2.3', 'pacs host']), 'allowed_sources[1]'),
    (('allowed_sources', ['pacs.example.org.']), 'allowed_sources[0]'),
    (('allowed_sources', ['-pacs.example.org']), 'allowed_sources[0]'),
    (('allowed_sources', ['pacs_1.example.org']), 'allowed_sources[0]'),
    (('allowed_sources', ['a' * 64 + '.example.org']), 'allowed_sources[0]'),
    (('allowed_sources', ['a.' * 127 + 'org']), 'allowed_sources[0]'),
    (('allowed_sources', ['10.0.0.1\n']), 'allowed_sources[0]'),
    (('allowed_sources', ['$(id)']), 'allowed_sources[0]'),
    (('allowed_sources', '10.0.0.0/8'), 'allowed_sources'),
    # PACS entries
    (('pacs', [{'name': 'x', 'aetitle': 'X', 'host': '10.0.0.1'}]), 'pacs[0]'),
    (('pacs', pacs(extra=1)), 'pacs[0]'),
    (('pacs', pacs(aetitle='AN_AE_TITLE_TOO_LONG')), 'pacs[0].aetitle'),
    (('pacs', pacs(port=0)), 'pacs[0].port'),
    (('pacs', pacs(port='104\n')), 'pacs[0].port'),
    (('pacs', pacs(host='10.0.0.256')), 'pacs[0].host'),
    (('pacs', pacs(host='10.1.0.0/16')), 'pacs[0].host'),
    (('pacs', pacs(name='main pacs')), 'pacs[0].name'),
    (('pacs', pacs() + pacs(host='10.1.2.4')), 'pacs[1].name'),
    (('pacs', ['main']), 'pacs[0]'),
    (('pacs', GOOD_PACS), 'pacs'),
    # paths
    (('base_dir', 'relative/path'), 'base_dir'),
    (('data_dir', '/home/dicom/../etc'), 'data_dir'),
    (('tmp_dir', '/home/dicom/tmp\nserver = /bin/sh'), 'tmp_dir'),
    (('log_dir', '/home/dicom/my log'), 'log_dir'),
    # pypx's services dir (<log dir>/../services) would be root's file in a dir root does not own.
    (('log_dir', '/srv/logs/dicom'), 'log_dir'),
    (('data_dir', '/home/dicom//data'), 'data_dir'),
    (('data_dir', '/home/dicom/./data'), 'data_dir'),
    (('data_dir', '/home/dicom/data/'), 'data_dir'),
    (('data_dir', '/home/dicom/data%'), 'data_dir'),
    (('data_dir', '/home/dicom/-data'), 'data_dir'),
    (('px_listen_link', '/usr/local/bin/px listen'), 'px_listen_link'),
    (('venv_dir', '/opt/py\u2028px'), 'venv_dir'),
    (('venv_dir', '/opt/pypx\0'), 'venv_dir'),
    (('venv_dir', "/opt/py'px"), 'venv_dir'),
    (('venv_dir', '/opt/py"px'), 'venv_dir'),
    (('venv_dir', '/opt/py;px'), 'venv_dir'),
    (('venv_dir', '/opt/$(id)'), 'venv_dir'),
    (('venv_dir', '/opt/`id`'), 'venv_dir'),
    (('venv_dir', '/opt/py\\px'), 'venv_dir'),
    (('venv_dir', '/opt/p\u00ffpx'), 'venv_dir'),
    (('venv_dir', '/opt/' + 'a' * 256), 'venv_dir'),
    (('venv_dir', '/opt' + '/abc' * 1100), 'venv_dir'),
    (('venv_dir', '/usr'), 'venv_dir'),
    (('xinetd_dir', '/etc'), 'xinetd_dir'),
    (('host_ip_env_file', '/proc/sys/kernel/core_pattern'), 'host_ip_env_file'),
    (('storescp_path', '/usr/bin/store scp'), 'storescp_path'),
    # the listener's directories: no system directories, distinct, not nested
    (('base_dir', '/'), 'base_dir'),
    (('tmp_dir', '/tmp'), 'tmp_dir'),
    (('base_dir', '/home'), 'base_dir'),
    (('log_dir', '/var/log'), 'log_dir'),
    (('data_dir', '/etc/dicom'), 'data_dir'),
    (('base_dir', '/usr/local/dicom'), 'base_dir'),
    (('tmp_dir', '/proc/self'), 'tmp_dir'),
    (('tmp_dir', '/tmp/dicom'), 'tmp_dir'),
    (('data_dir', '/root/data'), 'data_dir'),
    (('tmp_dir', '/home/dicom/log'), 'tmp_dir'),
    (('data_dir', '/home/dicom/tmp/data'), 'data_dir'),
    (('log_dir', '/home/dicom/data/log'), 'log_dir'),
    (('base_dir', '/home/dicom/data'), 'base_dir'),
    # root's paths outside the listener's directories
    (('venv_dir', '/home/dicom/venv'), 'venv_dir'),
    (('host_ip_env_file', '/home/dicom/log/host_ip.env'), 'host_ip_env_file'),
    (('storescp_wrapper', '/home/dicom/storescp-wrapper'), 'storescp_wrapper'),
    (('metrics_textfile_dir', '/home/dicom/metrics'), 'metrics_textfile_dir'),
    (('px_listen_link', '/home/dicom/data/px-listen'), 'px_listen_link'),
    (('xinetd_dir', '/home/dicom/xinetd.d'), 'xinetd_dir'),
    # files on the controller
    (('pip_ca_bundle', 'ca bundle.pem'), 'pip_ca_bundle'),
    (('pip_ca_bundle', 'ca.pem\n'), 'pip_ca_bundle'),
    (('wheelhouse', '-wheels.tar'), 'wheelhouse'),
    (('tls_cert', 'cert.pem;'), 'tls_cert'),
    # names
    (('user', 'root'), 'user'),
    (('user', 'root\n'), 'user'),
    (('user', 'Root!'), 'user'),
    (('user', 'dicom user'), 'user'),
    (('user', 'a' * 33), 'user'),
    (('group', 'dicom group'), 'group'),
    (('group', 'root'), 'group'),
    (('service_name', 'dicom.listener'), 'service_name'),
    (('service_name', 'dicomlistener\n'), 'service_name'),
    (('service_name', '-dicom'), 'service_name'),
    (('service_name', 'a' * 65), 'service_name'),
    (('service_name', 'dicom@1'), 'service_name'),
    (('service_name', 'dicom/listener'), 'service_name'),
    # xinetd's options and log flags
    (('xinetd_opts', ['-stayalive', '-limit 5\nINETD_COMPAT=Yes']), 'xinetd_opts[1]'),
    (('xinetd_opts', ['-limit', '5']), 'xinetd_opts'),
    (('xinetd_opts', '-stayalive'), 'xinetd_opts'),
    (('xinetd_opts', ['-stayalive', '$(id)']), 'xinetd_opts[1]'),
    (('xinetd_opts', ['-stayalive', '']), 'xinetd_opts[1]'),
    (('log_on_success', ['HOST', 'ATTEMPT']), 'log_on_success[1]'),
    (('log_on_success', 'HOST'), 'log_on_success'),
    (('log_on_failure', ['HOST\n']), 'log_on_failure[0]'),
    # systemd OnCalendar
    (('housekeeping_schedule', 'hourly\nExecStart=/bin/sh'), 'housekeeping_schedule'),
    (('housekeeping_schedule', 'hourly;'), 'housekeeping_schedule'),
    (('housekeeping_schedule', '%H'), 'housekeeping_schedule'),
    (('housekeeping_schedule', '*-*-* 25:00'), 'housekeeping_schedule'),
    (('housekeeping_schedule', '*-*-* 03:60'), 'housekeeping_schedule'),
    (('housekeeping_schedule', '*-13-* 00:00'), 'housekeeping_schedule'),
    (('housekeeping_schedule', 'Mon..Fry 03:00'), 'housekeeping_schedule'),
    (('housekeeping_schedule', 'every hour'), 'housekeeping_schedule'),
    (('housekeeping_schedule', 'hourly '), 'housekeeping_schedule'),
    (('housekeeping_schedule', '*/15'), 'housekeeping_schedule'),
    (('housekeeping_schedule', ''), 'housekeeping_schedule'),
    # pip and pypx
    (('pip_index_url', 'https://pypi.example.org/simple\n'), 'pip_index_url'),
    (('pip_index_url', 'ftp://pypi.example.org/simple'), 'pip_index_url'),
    (('pip_index_url', 'https://pypi.example.org/simple?x=$(id)'), 'pip_index_url'),
    (('pip_index_url', "https://pypi.example.org/simple'"), 'pip_index_url'),
    (('pip_index_url', 'https://user:p@ss@pypi.example.org/simple'), 'pip_index_url'),
    (('pip_index_url', 'https://10.0.0.300/simple'), 'pip_index_url'),
    (('pip_index_url', 'https://pypi.example.org:70000/simple'), 'pip_index_url'),
    (('pip_extra_args', '--timeout 60; rm -rf /'), 'pip_extra_args'),
    (('pip_extra_args', '--proxy $(id)'), 'pip_extra_args'),
    (('pip_extra_args', '--timeout  60'), 'pip_extra_args'),
    (('pip_extra_args', '--timeout=60\n'), 'pip_extra_args'),
    (('pip_extra_args', "--cert '/etc/ca.pem'"), 'pip_extra_args'),
    (('pip_extra_args', '--proxy http://u:%zz@proxy'), 'pip_extra_args'),
    (('rpudb_package', 'rpudb\n'), 'rpudb_package'),
    (('rpudb_package', 'rpudb; rm -rf /'), 'rpudb_package'),
    (('rpudb_package', 'rpudb==0.0.4 --index-url http://evil'), 'rpudb_package'),
    (('rpudb_package', ''), 'rpudb_package'),
    (('rpudb_package', 'rpudb @ https://example.org/rpudb.tar.gz\n'), 'rpudb_package'),
    (('pypx_version', '3.12.6\n'), 'pypx_version'),
    (('pypx_version', 3.12), 'pypx_version'),
    (('pypx_version', '3.12.6; id'), 'pypx_version'),
    (('pypx_version', 'latest'), 'pypx_version'),
    (('pypx_version', '>=3.12'), 'pypx_version'),
    # directory modes
    (('dir_mode', '0777'), 'dir_mode'),
    (('dir_mode', '0757'), 'dir_mode'),
    (('dir_mode', '2750'), 'dir_mode'),
    (('dir_mode', '0640'), 'dir_mode'),
    (('dir_mode', '750\n'), 'dir_mode'),
    (('dir_mode', 488), 'dir_mode'),
    (('dir_mode', 'u=rwx,g=rx'), 'dir_mode'),
    (('dir_mode', '0o750'), 'dir_mode'),
    # TLS and the systemd backend's address book
    ({'tls': True, 'tls_cert': 'gateway.pem'}, 'tls_key'),
    ({'tls': True, 'tls_key': 'gateway.key'}, 'tls_cert'),
    ({'tls_client_ca': 'hospital-ca.pem'}, 'tls_client_ca'),
    ({'backend': 'systemd', 'allowed_sources': ['pacs.example.org']}, 'allowed_sources[0]'),
    ({'backend': 'systemd', 'pacs': pacs(host='pacs.example.org')}, 'pacs[0].host'),
    # a misspelt variable
    (('aetitel', 'CHRISLOCAL'), 'aetitel'),
]


def changed(change):
    variables = dict(DEFAULTS)
    items = change.items() if isinstance(change, dict) else [change]
    variables.update((V + name, value) for name, value in items)
    return variables


def label(row):
    change, _name = row
    text = repr(change)
    return text if len(text) < 70 else text[:67] + '...'


def test_the_role_defaults_pass():
    assert validate.role_problems(DEFAULTS) == []


def test_every_variable_of_the_role_has_a_validator():
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml')) as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    assert set(validate.VARIABLE_NAMES) == set(DEFAULTS) == set(options)


def test_the_bad_value_table_is_large_and_covers_every_kind():
    assert len(BAD) >= 60
    covered = set(V + (change[0] if isinstance(change, tuple) else sorted(change)[-1]) for change, _name in BAD)
    # every kind of value: at least one variable of each validator's kind has a bad value
    kinds = set(validate._CHECKS[name] for name in covered if name in validate._CHECKS)
    assert len(kinds) >= 20


@pytest.mark.parametrize('row', BAD, ids=[label(row) for row in BAD])
def test_each_bad_value_alone_gives_exactly_its_problem(row):
    change, name = row
    problems = validate.role_problems(changed(change))
    assert len(problems) == 1, problems
    assert problems[0].startswith(V + name) or (V + name + ' ') in problems[0], problems
    assert '; allowed: ' in problems[0], problems


def test_bad_values_tried_and_refused(capsys):
    refused = 0
    for change, name in BAD:
        problems = validate.role_problems(changed(change))
        refused += int(len(problems) == 1 and (V + name) in problems[0])
    with capsys.disabled():
        print('\nvalidate: %d bad values tried, %d refused with a message naming the variable' % (len(BAD), refused))
    assert refused == len(BAD)


def test_control_characters_are_shown_escaped():
    problem = validate.role_problems(changed(('user', 'root\n')))[0]
    assert '"root\\n"' in problem and 'newline' in problem and '\n' not in problem
    problem = validate.role_problems(changed(('aetitle', 'CHRIS\u2028')))[0]
    assert '\\u2028' in problem and '\u2028' not in problem


def test_problems_say_what_was_meant():
    assert 'for the network write 10.0.0.0/8' in validate.source('10.0.0.1/8', 's')[0]
    assert 'write 10.0.0.1' in validate.ip_address('::ffff:10.0.0.1', 'b')[0]
    assert 'zone id' in validate.ip_address('fe80::1%eth0', 'b')[0]
    assert 'write "CHRIS"' in validate.aetitle(' CHRIS ', 'a')[0]
    assert 'did you mean dicom_listener_aetitle?' in validate.role_problems(changed(('aetitel', 'X')))[0]


def test_all_problems_are_reported_at_once():
    variables = changed({'user': 'root\n', 'port': '10_402', 'tmp_dir': '/tmp', 'housekeeping_schedule': '%H'})
    problems = validate.role_problems(variables)
    assert [p.split(':')[0] for p in problems] == [V + 'port', V + 'tmp_dir', V + 'user', V + 'housekeeping_schedule']


def test_a_missing_variable_is_a_problem():
    variables = dict(DEFAULTS)
    del variables[V + 'port']
    assert validate.role_problems(variables) == [
        "dicom_listener_port: is not set; allowed: the role's default, or a value as meta/argument_specs.yml describes it"]


def test_published_facts_are_not_inputs():
    variables = dict(DEFAULTS, dicom_listener_host_ip='10.1.2.3', dicom_listener_info={'summary': 'x'})
    assert validate.role_problems(variables) == []


def with_changes(**changes):
    return dict(DEFAULTS, **dict((V + name, value) for name, value in changes.items()))


GOOD_ROLE = [
    with_changes(port='10402', allow_root='yes', tls='off', metrics=1, housekeeping_min_age_hours='0.5'),
    with_changes(user='root', group='root', allow_root=True),
    with_changes(backend='systemd', allowed_sources=['10.0.0.0/8', 'fd00::/8', '0.0.0.0/0'],
                 pacs=[GOOD_PACS, dict(GOOD_PACS, name='old', host='2001:db8::5', port='11112')]),
    with_changes(pacs=[GOOD_PACS, {'name': 'pacs.b', 'aetitle': 'OLD PACS', 'host': 'pacs.example.org', 'port': 11112}],
                 allowed_sources=['pacs2.example.org', '10.1.2.3', '192.168.0.0/16', 'localhost']),
    with_changes(tls=True, tls_cert='files/gateway.pem', tls_key='/etc/pki/gateway.key',
                 tls_client_ca='../hospital-ca.pem'),
    with_changes(base_dir='/srv/dicom', tmp_dir='/srv/dicom-tmp', log_dir='/var/log/dicom', data_dir='/data/dicom',
                 pypx_pacs_service=False),
    with_changes(venv_dir='/opt/pacsgate/venv', host_ip_env_file='/etc/pfdcm/host_ip.env',
                 metrics_textfile_dir='/var/lib/node-exporter', xinetd_dir='/etc/xinetd.d'),
    with_changes(xinetd_opts=['-stayalive', '-limit', '50', '-filelog', '/var/log/xinetd.log'],
                 log_on_success=['PID', 'HOST', 'USERID', 'EXIT', 'DURATION', 'TRAFFIC'], log_on_failure=[]),
    with_changes(pip_index_url='https://user:tok%40en@pypi.example.org:8443/simple/',
                 pip_extra_args='--timeout 60 --proxy http://proxy.example.org:3128',
                 rpudb_package='rpudb @ https://example.org/rpudb-0.1.tar.gz', pypx_version='3.13.0rc1',
                 wheelhouse='wheelhouse-bookworm.tar', pip_ca_bundle='/etc/ssl/certs/ca-certificates.crt'),
    with_changes(housekeeping_schedule='Mon..Fri *-*-* 02:00:00', dir_mode='0700', receiver='px-listen',
                 transfer_syntaxes='uncompressed', min_free_mb=0, filer_workers='64'),
]


@pytest.mark.parametrize('variables', GOOD_ROLE)
def test_good_role_variables_pass(variables):
    assert validate.role_problems(variables) == []


GOOD = [
    (validate.port, [1, 65535, '10402', 104]),
    (validate.aetitle, ['CHRISLOCAL', 'A', 'MY PACS', 'PACS_1-2.x', 'X' * 16, 'A*B', 'AE+(1)']),
    (validate.ip_address, ['0.0.0.0', '::', '::1', '10.1.2.3', '255.255.255.255', '2001:db8::1', 'fe80::1',
                           '2001:0db8:0000:0000:0000:0000:0000:0001']),
    (validate.host, ['pacs.example.org', 'PACS-1', 'localhost', '10.0.0.1', 'fd00::5', 'a' * 63 + '.org', '1a.example']),
    (validate.source, ['10.0.0.0/8', '0.0.0.0/0', '10.1.2.3/32', '10.1.2.3', 'fd00::/8', '2001:db8::/32', '::1/128',
                       'pacs.example.org']),
    (validate.listener_dir, ['/home/dicom', '/srv/dicom', '/var/lib/dicom', '/data/dicom/tmp', '/var/log/dicom',
                             '/home/dicom/.hidden', '/mnt/nas/dicom']),
    (validate.root_path, ['/opt/pypx', '/usr/local/libexec/pacsgate/x-storescp', '/etc/pfdcm/host_ip.env',
                          '/usr/bin/storescp', '/var/lib/prometheus/node-exporter']),
    (validate.controller_path, ['certs/ca.pem', '../ca.pem', '/etc/ssl/certs/ca-certificates.crt', 'a+b.pem']),
    (validate.account, ['dicom', '_dicom', 'pacs-gw1', 'a' * 32]),
    (validate.service_name, ['dicomlistener', 'dicom_listener-2', 'A' * 64, '2nd']),
    (validate.boolean, [True, False, 'yes', 'No', 'ON', 'off', '1', '0', 1, 0, 't', 'F', 'y', 'TRUE']),
    (validate.on_calendar, ['hourly', 'daily', 'weekly', '*-*-* 03:15', 'Mon..Fri *-*-* 02:00:00', '*:0/15',
                            'Sat,Sun 04:00', '2026-*-01 00:00:00', '*-*-1,15 12:00', '03:15', '*-*-* 0..6:00']),
    (validate.pip_index_url, ['', 'https://pypi.example.org/simple', 'http://10.0.0.5:3141/root/pypi/+simple/',
                              'https://[fd00::5]:8443/simple']),
    (validate.pip_args, ['', '--timeout 60', '--trusted-host pypi.example.org --retries 2', '--no-cache-dir']),
    (validate.pip_requirement, ['rpudb', 'rpudb==0.0.4', 'rpudb[extra]>=0.1,<1',
                                'https://github.com/FNNDSC/rpudb/archive/master.zip',
                                'git+https://github.com/FNNDSC/rpudb@v1#egg=rpudb']),
    (validate.version, ['3.12.6', '3.13.0rc1', '1.0.post2', '2.0.dev3', '4']),
    (validate.dir_mode, ['0750', '0700', '0755', '750', '0770', '0705']),
    (validate.pacs, [[], [GOOD_PACS, {'name': 'b', 'aetitle': 'B', 'host': 'pacs.example.org', 'port': '11112'}]]),
]
GOOD_ROWS = [(check, value) for check, values in GOOD for value in values]


@pytest.mark.parametrize('check,value', GOOD_ROWS, ids=['%s=%r' % (c.__name__, v) for c, v in GOOD_ROWS])
def test_good_values_are_accepted(check, value):
    assert check(value, 'x') == []


def test_the_numbers_have_their_bounds():
    assert validate.integer(64, 'w', 1, 64) == [] and validate.integer(65, 'w', 1, 64) != []
    assert validate.number(8760, 'h', 0, 8760) == [] and validate.number(8760.5, 'h', 0, 8760) != []
    assert validate.number(float('inf'), 'h', 0, 8760) != []


# The filter plugin the role's preflight calls.

def test_the_filter_is_registered_and_passes_the_defaults():
    filters = problems_filter.FilterModule().filters()
    assert filters['dicom_listener_problems'](DEFAULTS) == []


def test_the_filter_returns_every_problem():
    run = problems_filter.FilterModule().filters()['dicom_listener_problems']
    problems = run(changed({'user': 'root', 'tmp_dir': '/home/dicom/log'}))
    assert len(problems) == 2
    assert problems[0].startswith('dicom_listener_user is root')
    assert problems[1].startswith('dicom_listener_tmp_dir and dicom_listener_log_dir')


def test_the_filter_needs_a_dict():
    with pytest.raises(AnsibleFilterError, match='needs a dict'):
        problems_filter.dicom_listener_problems(['dicom_listener_port'])


def test_the_status_playbooks_variables_pass_the_roles_unknown_name_check():
    variables = dict(DEFAULTS)
    variables.update(dicom_listener_status_fail_on=['disk'], dicom_listener_status_min_free_percent=5,
                     dicom_listener_status_fail_onn=['disk'])
    problems = validate.role_problems(variables)
    assert len(problems) == 1 and problems[0].startswith('dicom_listener_status_fail_onn: is not a variable')


@pytest.mark.parametrize('variables, names', [
    ({}, []),
    ({'dicom_listener_status_fail_on': list(validate.STATUS_CONDITIONS), 'dicom_listener_status_min_free_percent': 0}, []),
    ({'dicom_listener_status_fail_on': ['echo', 'ECHO']}, ['dicom_listener_status_fail_on[1]']),
    ({'dicom_listener_status_fail_on': None}, ['dicom_listener_status_fail_on']),
    ({'dicom_listener_status_min_free_percent': 101}, ['dicom_listener_status_min_free_percent']),
    ({'dicom_listener_status_min_free_percent': '10%'}, ['dicom_listener_status_min_free_percent']),
])
def test_status_problems(variables, names):
    assert [p.split(':')[0] for p in validate.status_problems(variables)] == names
