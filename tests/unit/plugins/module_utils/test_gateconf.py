"""Unit tests of plugins/module_utils/gateconf.py: the gate configuration renderer."""

import re

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import gateconf

HEADER = '# pacsgate-gate configuration, rendered by pacsgate.listener: local changes are overwritten.'


def config(**overrides):
    base = {
        'called': 'CHRISLOCAL',
        'peers': [{'aetitle': 'PACS1', 'source': '10.1.2.3'}],
        'mode': 'plain',
        'refuse_flag': '/home/dicom/tmp/.pacsgate-refuse',
        'incoming': '/home/dicom/tmp/incoming',
        'log': '/home/dicom/log/associations.log',
        'syslog': None,
        'acse_timeout': 30,
        'argv': ['/usr/bin/storescp', '--inetd', '--aetitle', 'CHRISLOCAL'],
        'output_option': '--output-directory',
    }
    base.update(overrides)
    return base


def test_a_whole_filer_configuration():
    assert gateconf.render(config()) == '\n'.join([
        HEADER,
        'mode plain',
        'called 43485249534c4f43414c',
        'peer 5041435331 4 0a010203 32',
        'refuse-flag /home/dicom/tmp/.pacsgate-refuse',
        'incoming /home/dicom/tmp/incoming',
        'log /home/dicom/log/associations.log',
        'acse-timeout 30',
        'exec /usr/bin/storescp',
        'arg --inetd',
        'arg --aetitle',
        'arg CHRISLOCAL',
        'output-option --output-directory',
    ]) + '\n'


def test_px_listen_tls_any_called_and_a_syslog_socket():
    text = gateconf.render(config(called=None, mode='tls', incoming=None, output_option=None, syslog='/run/x/log',
                                  argv=['/usr/local/bin/px-listen', '-t', '/home/dicom/tmp']))
    assert text.splitlines() == [
        HEADER,
        'syslog /run/x/log',
        'mode tls',
        'called *',
        'peer 5041435331 4 0a010203 32',
        'refuse-flag /home/dicom/tmp/.pacsgate-refuse',
        'log /home/dicom/log/associations.log',
        'acse-timeout 30',
        'exec /usr/local/bin/px-listen',
        'arg -t',
        'arg /home/dicom/tmp',
    ]


def test_syslog_may_be_left_out():
    settings = config()
    del settings['syslog']
    assert gateconf.render(settings) == gateconf.render(config())


@pytest.mark.parametrize('rule, lines', [
    ({'aetitle': 'PACS1', 'source': '10.1.2.3'}, ['peer 5041435331 4 0a010203 32']),
    ({'aetitle': None, 'source': '10.1.2.3/24'}, ['peer * 4 0a010200 24']),
    ({'aetitle': None, 'source': '10.1.2.0/24'}, ['peer * 4 0a010200 24']),
    ({'aetitle': None, 'source': '0.0.0.0/0'}, ['peer * 4 00000000 0']),
    ({'aetitle': None, 'source': '192.168.1.1/32'}, ['peer * 4 c0a80101 32']),
    ({'aetitle': None, 'source': '::1'}, ['peer * 6 00000000000000000000000000000001 128']),
    ({'aetitle': None, 'source': '2001:db8::7/48'}, ['peer * 6 20010db8000000000000000000000000 48']),
    ({'aetitle': None, 'source': 'FD00::/8'}, ['peer * 6 fd000000000000000000000000000000 8']),
    ({'aetitle': None, 'source': 'fe80::/10'}, ['peer * 6 fe800000000000000000000000000000 10']),
    # IPv4-mapped: the gate sees those peers as IPv4
    ({'aetitle': None, 'source': '::ffff:10.1.2.3'}, ['peer * 4 0a010203 32']),
    ({'aetitle': None, 'source': '::ffff:0a01:0203'}, ['peer * 4 0a010203 32']),
    ({'aetitle': None, 'source': '::ffff:10.0.0.0/104'}, ['peer * 4 0a000000 8']),
    ({'aetitle': None, 'source': '::ffff:0:0/96'}, ['peer * 4 00000000 0']),
    # an IPv6 network holding every IPv4-mapped address also admits every IPv4 peer
    ({'aetitle': None, 'source': '::/0'}, ['peer * 6 00000000000000000000000000000000 0', 'peer * 4 00000000 0']),
    ({'aetitle': None, 'source': '::/80'}, ['peer * 6 00000000000000000000000000000000 80', 'peer * 4 00000000 0']),
    ({'aetitle': None, 'source': '::/96'}, ['peer * 6 00000000000000000000000000000000 96']),
    # host names: resolved by the gate
    ({'aetitle': 'PACS1', 'source': 'pacs.example.org'}, ['peer-name 5041435331 pacs.example.org']),
    ({'aetitle': None, 'source': 'localhost'}, ['peer-name * localhost']),
    ({'aetitle': None, 'source': '1e100.net'}, ['peer-name * 1e100.net']),
    # AE titles: hex, inner spaces kept, 16 characters
    ({'aetitle': 'A PACS  WITH SP', 'source': '10.1.2.3'}, ['peer 412050414353202057495448205350 4 0a010203 32']),
    ({'aetitle': 'SIXTEENCHARSLONG', 'source': '10.1.2.3'},
     ['peer 5349585445454e43484152534c4f4e47 4 0a010203 32']),
    ({'aetitle': 'a-b_c.d*e', 'source': '10.1.2.3'}, ['peer 612d625f632e642a65 4 0a010203 32']),
])
def test_peer_rules(rule, lines):
    text = gateconf.render(config(peers=[rule]))
    assert [line for line in text.splitlines() if line.startswith('peer')] == lines


def test_rules_keep_their_order_and_lose_their_duplicates():
    peers = [{'aetitle': 'B', 'source': '10.0.0.1'}, {'aetitle': 'A', 'source': '10.0.0.1/32'},
             {'aetitle': 'B', 'source': '::ffff:10.0.0.1'}, {'aetitle': None, 'source': 'localhost'}]
    text = gateconf.render(config(peers=peers))
    assert [line for line in text.splitlines() if line.startswith('peer')] == [
        'peer 42 4 0a000001 32', 'peer 41 4 0a000001 32', 'peer-name * localhost']


def test_no_rules_is_a_valid_configuration():
    assert 'peer' not in gateconf.render(config(peers=[]))


def test_called_aetitle_with_inner_spaces():
    assert 'called 47415445205741592031364348415253' in gateconf.render(config(called='GATE WAY 16CHARS')).splitlines()


def test_arguments_are_verbatim():
    text = gateconf.render(config(argv=['/usr/bin/storescp', '', ' two  spaces ', "'$HOME' \"x\" #y", '--x=1']))
    assert text.splitlines()[8:13] == ['exec /usr/bin/storescp', 'arg ', 'arg  two  spaces ', "arg '$HOME' \"x\" #y",
                                       'arg --x=1']


def test_paths_with_spaces_are_verbatim():
    text = gateconf.render(config(log='/srv/pacs log/associations.log'))
    assert 'log /srv/pacs log/associations.log' in text.splitlines()


@pytest.mark.parametrize('overrides, complaint', [
    ({'called': 'SEVENTEEN CHARS!!'}, 'is 17 characters long'),
    ({'called': ''}, 'is empty'),
    ({'called': '    '}, 'is only spaces'),
    ({'called': 'BACK\\SLASH'}, 'contains'),
    ({'called': 'TAB\tHERE'}, 'contains a tab'),
    ({'called': 'NEW\nLINE'}, 'contains a newline'),
    ({'called': 'CAF\u00c9'}, 'non-ASCII character U+00C9'),
    ({'called': '*'}, 'reads as any AE title'),
    ({'called': 42}, 'is an integer, not a string'),
    ({'peers': [{'aetitle': 'X' * 17, 'source': '10.1.2.3'}]}, 'is 17 characters long'),
    ({'peers': [{'aetitle': ' * ', 'source': '10.1.2.3'}]}, 'leading or trailing spaces'),
    ({'peers': [{'aetitle': None, 'source': '10.1.2'}]}, 'not four decimal numbers'),
    ({'peers': [{'aetitle': None, 'source': '10.1.2.3/33'}]}, 'is a network'),
    ({'peers': [{'aetitle': None, 'source': '10.1.2.300'}]}, 'number over 255'),
    ({'peers': [{'aetitle': None, 'source': '::1/129'}]}, 'is a network'),
    ({'peers': [{'aetitle': None, 'source': 'fe80::1%eth0'}]}, 'scoped'),
    ({'peers': [{'aetitle': None, 'source': 'pacs example'}]}, 'contains a space'),
    ({'peers': [{'aetitle': None, 'source': 'pacs\nexample'}]}, 'contains a newline'),
    ({'peers': [{'aetitle': None, 'source': '-pacs.example'}]}, "starts or ends with '-'"),
    ({'peers': [{'aetitle': None, 'source': 'a' * 64 + '.example'}]}, 'label of 64 characters'),
    ({'peers': [{'aetitle': '  PACS1 ', 'source': '10.1.2.3'}]}, 'leading or trailing spaces'),
    ({'peers': [{'aetitle': 'PACS;1', 'source': '10.1.2.3'}]}, 'contains'),
    ({'peers': [{'aetitle': None, 'source': 'pacs-1.hospital.example.'}]}, 'ends in a dot'),
    ({'peers': [{'aetitle': None, 'source': ''}]}, 'non-empty string'),
    ({'peers': [{'aetitle': None, 'source': None}]}, 'non-empty string'),
    ({'peers': [{'aetitle': None}]}, 'keys are aetitle and source'),
    ({'peers': [{'aetitle': None, 'source': '10.1.2.3', 'port': 104}]}, 'unknown: port'),
    ({'peers': ['10.1.2.3']}, 'not a dict'),
    ({'peers': '10.1.2.3'}, 'must be a list'),
    ({'mode': 'TLS'}, 'neither plain nor tls'),
    ({'acse_timeout': 0}, 'acse_timeout'),
    ({'acse_timeout': '30'}, 'acse_timeout'),
    ({'acse_timeout': True}, 'acse_timeout'),
    ({'acse_timeout': 86401}, 'acse_timeout'),
    ({'argv': []}, 'non-empty list'),
    ({'argv': 'storescp --inetd'}, 'non-empty list'),
    ({'argv': ['storescp', '--inetd']}, 'not an absolute path'),
    ({'argv': ['/usr/bin/storescp', 'two\nlines']}, 'line break'),
    ({'argv': ['/usr/bin/storescp', 'nul\0']}, 'line break or NUL'),
    ({'argv': ['/usr/bin/storescp', 'cr\r']}, 'line break'),
    ({'argv': ['/usr/bin/storescp', 5]}, 'must be a string'),
    ({'log': 'associations.log'}, 'not an absolute path'),
    ({'log': '/var/log/a\nb'}, 'line break'),
    ({'refuse_flag': ''}, 'not an absolute path'),
    ({'syslog': 'dev/log'}, 'not an absolute path'),
    ({'incoming': 'tmp/incoming'}, 'not an absolute path'),
    ({'incoming': None}, 'only used in filer mode'),
    ({'output_option': None}, 'needs output_option'),
    ({'output_option': ''}, 'must not be empty'),
    ({'colour': 'blue'}, 'unknown keys: colour'),
])
def test_refusals(overrides, complaint):
    with pytest.raises(ValueError, match=re.escape(complaint)):
        gateconf.render(config(**overrides))


def test_missing_keys_are_named():
    settings = config()
    del settings['log'], settings['argv']
    with pytest.raises(ValueError, match='missing keys: log, argv'):
        gateconf.render(settings)


def test_not_a_dict():
    with pytest.raises(ValueError, match='must be a dict'):
        gateconf.render([('called', 'X')])


def test_exec_argv_reads_back_what_render_wrote():
    argv = ['/usr/bin/storescp', '--inetd', '--aetitle', 'CHRIS LOCAL', '']
    text = gateconf.render({'mode': 'plain', 'called': None, 'peers': [], 'refuse_flag': '/t/f', 'incoming': '/t/i',
                            'log': '/l/a.log', 'acse_timeout': 30, 'argv': argv, 'output_option': '--output-directory'})
    assert gateconf.exec_argv(text) == argv
    assert gateconf.exec_argv('arg orphan\nmode plain\n') == []
