"""Unit tests of the dicom_listener_info module: the system is mocked (commands, /proc), files are real."""

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pacsgate.listener.plugins.modules import dicom_listener_info as mod

SERVICE = """\
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
    server          = %(link)s
    server_args     = -t %(base)s/tmp -l %(base)s/log -d %(base)s/data -e %(base)s/wrapper
    env             = TCP_NODELAY=1
    log_on_success  = HOST PID DURATION EXIT
    log_on_failure  = HOST ATTEMPT
}
"""
XINETD_CONF = "defaults\n{\n    log_type = SYSLOG daemon info\n}\n\nincludedir /etc/xinetd.d\n"
IP_ADDR = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
           "2: ens3    inet 192.168.10.20/24 brd 192.168.10.255 scope global ens3\\       valid_lft forever\n"
           "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever\n")
ROUTE = "8.8.8.8 via 192.168.10.1 dev ens3 src 192.168.10.20 uid 0 \n    cache \n"
ECHO_OK = (0, "", "I: Requesting Association\nI: Association Accepted (Max Send PDV: 16372)\n"
                  "I: Sending Echo Request (MsgID 1)\nI: Received Echo Response (Success)\nI: Releasing Association\n")
ECHO_REFUSED = (1, "", "I: Requesting Association\nF: Association Request Failed: 0006:031b Failed to establish "
                       "association\nF: 0006:0317 Peer aborted Association (or never connected)\n"
                       "F: 0006:031c TCP Initialization Error: Connection refused\n")
ECHO_TIMEOUT = (1, "", "I: Requesting Association\nF: Association Request Failed: 0006:031b Failed to establish "
                       "association\nF: 0006:0317 Peer aborted Association (or never connected)\n"
                       "F: 0006:031c TCP Initialization Error: Operation timed out\n")


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@pytest.fixture
def gw(tmp_path, monkeypatch):
    """A gateway's files under tmp_path, and fakes for commands and /proc."""
    base = tmp_path / 'dicom'
    for d in ('tmp', 'log', 'data'):
        (base / d).mkdir(parents=True)
    (base / 'wrapper').write_text("#!/bin/sh\nexec /usr/bin/storescp --aetitle CHRISLOCAL \"$@\"\n")
    venv_px = tmp_path / 'px-listen'
    venv_px.write_text('#!/bin/sh\n')
    link = tmp_path / 'bin-px-listen'
    link.symlink_to(venv_px)
    xinetd_d = tmp_path / 'xinetd.d'
    xinetd_d.mkdir()
    (xinetd_d / 'dicomlistener').write_text(SERVICE % {'link': link, 'base': base})
    (tmp_path / 'xinetd.conf').write_text(XINETD_CONF)
    (tmp_path / 'xinetd').write_text('')
    (tmp_path / 'systemd').mkdir()

    state = {
        'calls': [],
        'bins': {'ip', 'echoscu', 'systemctl'},
        'echo': {'127.0.0.1': ECHO_OK},
        'route': (0, ROUTE, ''),
    }

    def run_command(self, argv, **kwargs):
        state['calls'].append(list(argv))
        name = argv[0].rsplit('/', 1)[-1]
        if name == 'ip' and argv[1:3] == ['-o', 'addr']:
            return 0, IP_ADDR, ''
        if name == 'ip' and 'route' in argv:
            return state['route'] if argv[1] == '-4' else (2, '', 'RTNETLINK answers: Network is unreachable')
        if name == 'echoscu':
            return state['echo'].get(argv[-2], ECHO_TIMEOUT)
        if name == 'systemctl':
            return 0, 'enabled\n', ''
        if argv[-1] == '--version':
            return 1, 'Version: 1.2.0\n', ''
        raise AssertionError('unexpected command %r' % (argv,))

    def get_bin_path(self, name, *args, **kwargs):
        return '/usr/bin/' + name if name in state['bins'] else None

    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(mod, 'XINETD_BINARIES', (str(tmp_path / 'xinetd'),))
    monkeypatch.setattr(mod, 'SYSTEMD_RUN_DIR', str(tmp_path / 'systemd'))
    monkeypatch.setattr(mod.gateway, 'listening_addresses', lambda port, proc_root='/proc': ['0.0.0.0'])

    def find_pids(predicate, proc_root='/proc'):
        if predicate is mod.gateway.is_xinetd:
            return [412]
        return []
    monkeypatch.setattr(mod.gateway, 'find_pids', find_pids)
    state.update(base=str(base), link=str(link), target=str(venv_px),
                 args={'xinetd_dir': str(xinetd_d), 'xinetd_conf': str(tmp_path / 'xinetd.conf')})
    return state


def run(gw, **args):
    params = dict(gw['args'])
    params.update(args)
    with patch_module_args(params):
        with pytest.raises((ExitJson, FailJson)) as exc:
            mod.main()
    result = exc.value.args[0]
    json.dumps(result)  # every result must serialise
    return exc.type, result


def test_healthy_gateway(gw):
    kind, r = run(gw, echo=True)
    assert kind is ExitJson
    assert r['changed'] is False
    assert r['host_ip'] == '192.168.10.20'
    assert [a['address'] for a in r['host_ips']] == ['192.168.10.20', '172.17.0.1']
    assert r['xinetd'] == {'installed': True, 'running': True, 'pid': 412, 'enabled': True}
    svc = r['service']
    assert (svc['exists'], svc['found'], svc['error']) == (True, True, None)
    assert (svc['port'], svc['bind'], svc['user'], svc['disable']) == (10402, '0.0.0.0', 'dicom', False)
    assert svc['env'] == {'TCP_NODELAY': '1'}
    assert r['listening'] is True
    assert r['aetitle'] == 'CHRISLOCAL'
    assert r['px_listen'] == {'link': gw['link'], 'is_link': True, 'target': gw['target'], 'exists': True,
                              'launcher': None, 'running': 0, 'version': '1.2.0'}
    assert r['echo']['ok'] is True and r['echo']['rtt_ms'] >= 0
    assert r['health']['stranded_associations'] == 0 and r['health']['error_logs'] == 0
    assert r['summary'] == ('Send to AE title CHRISLOCAL at 192.168.10.20:10402: the listener answers C-ECHO (%d ms)'
                            % r['echo']['rtt_ms'])


def test_echo_sends_configured_called_and_calling_titles(gw):
    run(gw, echo=True, aetitle='OTHERAE', calling_aetitle='ADMIN')
    echo = [c for c in gw['calls'] if c[0].endswith('echoscu')][0]
    assert echo[echo.index('-aec') + 1] == 'OTHERAE'
    assert echo[echo.index('-aet') + 1] == 'ADMIN'
    assert echo[-2:] == ['127.0.0.1', '10402']


def test_no_echo_unless_asked(gw):
    _kind, r = run(gw)
    assert 'echo' not in r and 'pacs_echo' not in r
    assert not [c for c in gw['calls'] if c[0].endswith('echoscu')]
    assert r['summary'].endswith('the port listens (no C-ECHO requested)')


@pytest.mark.parametrize('reply,words', [(ECHO_REFUSED, 'Connection refused'), (ECHO_TIMEOUT, 'timed out')])
def test_echo_failures_are_results(gw, reply, words):
    gw['echo']['127.0.0.1'] = reply
    kind, r = run(gw, echo=True)
    assert kind is ExitJson
    assert r['echo']['ok'] is False
    assert words in r['echo']['message']
    assert 'C-ECHO FAILED' in r['summary'] and words in r['summary']


def test_echo_without_dcmtk(gw):
    gw['bins'].discard('echoscu')
    _kind, r = run(gw, echo=True)
    assert r['echo'] == {'ok': False, 'rtt_ms': None, 'message': "dcmtk's echoscu is not installed",
                         'host': '127.0.0.1', 'port': 10402, 'aetitle': 'CHRISLOCAL'}


def test_pacs_echo_reports_each_pacs(gw):
    gw['echo']['10.1.2.3'] = ECHO_OK
    pacs = [{'name': 'main', 'aetitle': 'HOSPITALPACS', 'host': '10.1.2.3', 'port': 104},
            {'name': 'old', 'aetitle': 'OLDPACS', 'host': '10.1.2.4', 'port': 11112}]
    _kind, r = run(gw, pacs_echo=True, pacs=pacs)
    assert [(p['name'], p['ok']) for p in r['pacs_echo']] == [('main', True), ('old', False)]
    old = [c for c in gw['calls'] if c[-2:] == ['10.1.2.4', '11112']][0]
    assert old[old.index('-aec') + 1] == 'OLDPACS'
    assert 'PACS not answering: old' in r['summary']
    assert r['pacs_echo'][0]['line'].startswith('PACS main (AE title HOSPITALPACS at 10.1.2.3:104): answers C-ECHO')
    assert r['pacs_echo'][1]['line'].startswith('PACS old (AE title OLDPACS at 10.1.2.4:11112): C-ECHO FAILED: ')


def test_missing_service_file_is_a_result_not_a_traceback(gw):
    kind, r = run(gw, service_name='nosuchservice', echo=True)
    assert kind is ExitJson
    assert r['service']['exists'] is False and r['service']['found'] is False
    assert r['listening'] is False
    assert r['echo']['ok'] is False
    assert 'NO LISTENER' in r['summary']


def test_broken_service_file_reports_the_line(gw):
    path = gw['args']['xinetd_dir'] + '/dicomlistener'
    with open(path, 'a') as handle:
        handle.write('service second\n{\n    port = 1\n')
    _kind, r = run(gw)
    assert r['service']['found'] is False
    assert ':' in r['service']['error'] and 'dicomlistener' in r['service']['error']
    assert 'NO LISTENER' in r['summary']


def test_disabled_service_is_named_in_the_summary(gw):
    path = gw['args']['xinetd_dir'] + '/dicomlistener'
    with open(path) as handle:
        text = handle.read()
    with open(path, 'w') as handle:
        handle.write(text.replace('disable         = no', 'disable         = yes'))
    _kind, r = run(gw)
    assert r['service']['disable'] is True
    assert 'DISABLED' in r['summary']


def test_no_default_route_still_finds_host_ip(gw):
    gw['route'] = (2, '', 'RTNETLINK answers: Network is unreachable')
    _kind, r = run(gw)
    assert r['host_ip'] == '192.168.10.20'
    assert 'no usable default route' in r['host_ip_reason']


def test_without_ip_command(gw):
    gw['bins'].discard('ip')
    _kind, r = run(gw)
    assert r['host_ip'] is None and r['host_ips'] == []


def test_check_mode_is_the_same_read(gw):
    _kind, r = run(gw, echo=True, _ansible_check_mode=True)
    assert r['changed'] is False and r['echo']['ok'] is True


def test_health_dirs_come_from_server_args(gw):
    _kind, r = run(gw)
    assert r['health']['data_dir'] == gw['base'] + '/data'
    assert r['health']['tmp_dir'] == gw['base'] + '/tmp'


def test_health_can_be_skipped(gw):
    _kind, r = run(gw, health=False)
    assert 'health' not in r


def test_service_name_with_a_dot_fails_clearly(gw):
    kind, r = run(gw, service_name='dicom.listener')
    assert kind is FailJson
    assert 'dot' in r['msg']


SOCKET_UNIT = """\
[Unit]
OnFailure=dicomlistener-resume.service

[Socket]
ListenStream=0.0.0.0:10402
Accept=yes
MaxConnections=64
MaxConnectionsPerSource=64
IPAddressAllow=127.0.0.1 10.1.2.3
IPAddressDeny=any
"""
SERVICE_UNIT = """\
[Service]
User=dicom
Group=dicom
ExecStart=%(link)s -t %(base)s/tmp -l %(base)s/log -d %(base)s/data -e %(base)s/wrapper
StandardInput=socket
StandardOutput=socket
Environment=TCP_NODELAY=1
"""
SHOW = ("Id=dicomlistener.socket\nLoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=enabled\n"
        "Result=%s\nNAccepted=3\nNConnections=0\nNRefused=0\nListen=0.0.0.0:10402 (Stream)\n")


@pytest.fixture
def sd(gw, tmp_path, monkeypatch):
    """The same gateway with the systemd backend: units instead of the xinetd service, no xinetd."""
    units = tmp_path / 'units'
    units.mkdir()
    (units / 'dicomlistener.socket').write_text(SOCKET_UNIT)
    (units / 'dicomlistener@.service').write_text(SERVICE_UNIT % {'link': gw['link'], 'base': gw['base']})
    (tmp_path / 'xinetd').unlink()
    gw['show'] = (0, SHOW % ('active', 'listening', 'success'), '')
    original = basic.AnsibleModule.run_command

    def run_command(self, argv, **kwargs):
        if argv[0].endswith('systemctl') and argv[1] == 'show':
            gw['calls'].append(list(argv))
            return gw['show']
        return original(self, argv, **kwargs)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(mod.gateway, 'find_pids', lambda predicate, proc_root='/proc': [])
    gw['args'] = {'backend': 'systemd', 'unit_dir': str(units)}
    return gw


def test_systemd_backend_reports_the_socket(sd):
    kind, r = run(sd, echo=True)
    assert kind is ExitJson and r['changed'] is False
    assert r['socket']['unit'] == 'dicomlistener.socket'
    assert (r['socket']['active'], r['socket']['listening'], r['socket']['enabled']) == (True, True, True)
    assert r['socket']['error'] is None
    show = [c for c in sd['calls'] if c[1:3] == ['show', 'dicomlistener.socket']]
    assert len(show) == 1 and 'ActiveState' in show[0][-1]
    svc = r['service']
    assert (svc['found'], svc['port'], svc['bind'], svc['user'], svc['server']) == (
        True, 10402, '0.0.0.0', 'dicom', sd['link'])
    assert svc['only_from'] == ['127.0.0.1', '10.1.2.3']
    assert r['xinetd']['installed'] is False and r['xinetd']['running'] is False
    assert r['aetitle'] == 'CHRISLOCAL'
    assert r['health']['data_dir'] == sd['base'] + '/data'
    assert r['summary'] == ('Send to AE title CHRISLOCAL at 192.168.10.20:10402: the listener answers C-ECHO (%d ms)'
                            % r['echo']['rtt_ms'])


def test_systemd_backend_names_a_failed_socket(sd):
    sd['show'] = (0, SHOW % ('failed', 'failed', 'trigger-limit-hit'), '')
    _kind, r = run(sd)
    assert r['socket']['active'] is False
    assert 'the socket dicomlistener.socket is NOT ACTIVE (failed, trigger-limit-hit)' in r['summary']


def test_systemd_backend_without_units(sd):
    _kind, r = run(sd, service_name='other')
    assert r['service']['found'] is False
    assert 'NO LISTENER' in r['summary'] and 'other.socket' in r['summary']


def test_systemd_backend_on_a_host_without_systemd(sd, tmp_path):
    (tmp_path / 'systemd').rmdir()
    _kind, r = run(sd)
    assert r['socket']['active'] is False
    assert r['socket']['error'] == 'systemd is not the service manager of this host'
    assert not [c for c in sd['calls'] if c[0].endswith('systemctl')]
