"""Unit tests of the dicom_listener_info module, in community.general's style: exit_json and fail_json
patched, commands answered from recorded argv/rc/output, and the gateway's files real (settings,
xinetd service, units, a /proc with its socket table and processes, the listener's tmp and log)."""

import json
import os
import subprocess
import time

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pacsgate.listener.plugins.module_utils import listener_state
from ansible_collections.pacsgate.listener.plugins.module_utils import records
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
    server          = /usr/bin/perl
    server_args     = /usr/local/libexec/pacsgate/pacsgate-gate %(gate)s
    env             = TCP_NODELAY=1
}
"""
XINETD_CONF = "defaults\n{\n    log_type = SYSLOG daemon info\n}\n\nincludedir /etc/xinetd.d\n"
SOCKET_UNIT = """\
[Socket]
ListenStream=0.0.0.0:10402
Accept=yes
IPAddressAllow=127.0.0.1 10.1.2.3
IPAddressDeny=any
"""
SERVICE_UNIT = """\
[Service]
User=dicom
ExecStart=/usr/bin/perl /usr/local/libexec/pacsgate/pacsgate-gate %(gate)s
StandardInput=socket
"""
SHOW = ("Id=%s\nLoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=enabled\n"
        "Result=%s\nNAccepted=3\nNConnections=0\nNRefused=0\nListen=0.0.0.0:10402 (Stream)\n")
# Recorded on hosts with Docker: the default route leaves by ens3, docker0 has a global address too.
IP_ADDR = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
           "2: ens3    inet 192.168.10.20/24 brd 192.168.10.255 scope global ens3\\       valid_lft forever\n"
           "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever\n")
ROUTE = "8.8.8.8 via 192.168.10.1 dev ens3 src 192.168.10.20 uid 0 \n    cache \n"
ROUTE_VIA_DOCKER = "8.8.8.8 dev docker0 src 172.17.0.1 uid 0 \n    cache \n"
# dcmtk 3.6.7's echoscu -v.
ECHO_OK = (0, "", "I: Requesting Association\nI: Association Accepted (Max Send PDV: 16372)\n"
                  "I: Sending Echo Request (MsgID 1)\nI: Received Echo Response (Success)\nI: Releasing Association\n")
ECHO_REFUSED = (1, "", "I: Requesting Association\nF: Association Request Failed: 0006:031b Failed to establish "
                       "association\nF: 0006:0317 Peer aborted Association (or never connected)\n"
                       "F: 0006:031c TCP Initialization Error: Connection refused\n")
ECHO_TIMEOUT = (1, "", "I: Requesting Association\nF: Association Request Failed: 0006:031b Failed to establish "
                       "association\nF: 0006:0317 Peer aborted Association (or never connected)\n"
                       "F: 0006:031c TCP Initialization Error: Operation timed out\n")
# /proc/net/tcp: port 10402 (0x28A2) listening on 0.0.0.0.
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:28A2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
"""
PATIENT = 'DOE^JANE-PID12345'


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), 'w') as handle:
        handle.write(text)


@pytest.fixture
def gw(tmp_path, monkeypatch):
    """A gateway with the xinetd backend and the filer receiver, and fakes for its commands."""
    root = tmp_path
    etc = root / 'etc' / 'pacsgate'
    base = root / 'home' / 'dicom'
    for name in ('tmp', 'log', 'data'):
        (base / name).mkdir(parents=True)
    gate = etc / 'dicomlistener.gate'
    write(gate, 'mode plain\nexec /usr/bin/storescp\narg --inetd\n')
    settings = {
        'service': 'dicomlistener', 'backend': 'xinetd', 'receiver': 'filer',
        'tmp_dir': str(base / 'tmp'), 'log_dir': str(base / 'log'), 'data_dir': str(base / 'data'),
        'refile_after_minutes': 5, 'min_free_mb': 0, 'aetitle': 'CHRISLOCAL', 'port': 10402,
        'verify_host': '127.0.0.1', 'verify_calling_aetitle': 'PACSGATE-CHECK', 'tls': None, 'metrics_file': None,
        'pacs': [{'name': 'main', 'aetitle': 'HOSPITALPACS', 'host': '10.1.2.3', 'port': 104}],
    }
    write(root / 'xinetd.d' / 'dicomlistener', SERVICE % {'gate': gate})
    write(root / 'xinetd.conf', XINETD_CONF)
    write(root / 'sbin' / 'xinetd', '')
    (root / 'units').mkdir()
    proc = root / 'proc'
    write(proc / 'net' / 'tcp', PROC_NET_TCP)
    write(proc / 'net' / 'tcp6', '  sl  local_address\n')
    config = str(etc / 'dicomlistener.json')
    processes = {412: ['/usr/sbin/xinetd', '-pidfile', '/run/xinetd.pid'],
                 500: ['/opt/pypx/bin/python', '-I', '-m', 'pacsgate_listener.filer', '--config', config, '--log-file']}
    for pid, argv in processes.items():
        (proc / str(pid)).mkdir()
        (proc / str(pid) / 'cmdline').write_bytes(b'\0'.join(a.encode() for a in argv) + b'\0')
    for name in ('S01xinetd', 'S02pacsgate-filer-dicomlistener'):
        write(root / 'rc' / 'rc2.d' / name, '')

    state = {'calls': [], 'bins': {'ip', 'echoscu', 'systemctl'}, 'echo': {'127.0.0.1': ECHO_OK},
             'route': (0, ROUTE, ''), 'show': {}, 'version': (1, 'Version: 1.2.0\n', '')}

    def run_command(self, argv, **kwargs):
        state['calls'].append(list(argv))
        name = os.path.basename(argv[0])
        if name == 'ip' and argv[1:3] == ['-o', 'addr']:
            return 0, IP_ADDR, ''
        if name == 'ip' and 'route' in argv:
            return state['route'] if argv[1] == '-4' else (2, '', 'RTNETLINK answers: Network is unreachable')
        if name == 'echoscu':
            return state['echo'].get(argv[-2], ECHO_TIMEOUT)
        if name == 'systemctl' and argv[1] == 'is-enabled':
            return 0, 'enabled\n', ''
        if name == 'systemctl' and argv[1] == 'show':
            return state['show'].get(argv[2], (1, '', 'Unit %s could not be found.' % argv[2]))
        if argv[-1] == '--version':
            return state['version']
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
    monkeypatch.setattr(listener_state, 'XINETD_BINARIES', (str(root / 'sbin' / 'xinetd'),))
    monkeypatch.setattr(listener_state, 'SYSTEMD_RUN_DIR', str(root / 'run-systemd'))
    monkeypatch.setattr(listener_state, 'RC_DIR', str(root / 'rc'))
    monkeypatch.setattr(listener_state, 'PROC_ROOT', str(proc))
    state.update(root=root, base=base, settings=settings, config=config, gate=str(gate),
                 args={'config': config, 'xinetd_dir': str(root / 'xinetd.d'),
                       'xinetd_conf': str(root / 'xinetd.conf'), 'unit_dir': str(root / 'units')})
    return state


def run(gw, **args):
    write(gw['config'], json.dumps(gw['settings']))
    params = dict(gw['args'])
    params.update(args)
    with patch_module_args(params):
        with pytest.raises((ExitJson, FailJson)) as exc:
            mod.main()
    result = exc.value.args[0]
    json.dumps(result)  # every result must serialise
    return exc.type, result


def echo_calls(gw):
    return [c for c in gw['calls'] if c[0].endswith('echoscu')]


def conditions(result):
    return [p['condition'] for p in result['problems']]


def test_healthy_gateway(gw):
    kind, r = run(gw, echo=True)
    assert kind is ExitJson and r['changed'] is False
    assert (r['host_ip'], r['backend'], r['receiver'], r['aetitle'], r['port']) == (
        '192.168.10.20', 'xinetd', 'filer', 'CHRISLOCAL', 10402)
    assert [a['address'] for a in r['host_ips']] == ['192.168.10.20', '172.17.0.1']
    lst = r['listener']
    assert (lst['manager'], lst['installed'], lst['running'], lst['enabled']) == ('xinetd', True, True, True)
    assert (lst['found'], lst['disable'], lst['error'], lst['listening']) == (True, False, None, True)
    assert lst['gate_config'] == gw['gate']
    assert r['filer'] == {'unit': 'pacsgate-filer-dicomlistener', 'running': True, 'enabled': True, 'state': None}
    assert 'px_listen' not in r
    assert r['echo']['ok'] is True and r['echo']['rtt_ms'] >= 0
    assert r['tls'] == {'enabled': False, 'not_after': None, 'not_after_ts': None, 'days_left': None, 'error': None}
    assert r['problems'] == []
    assert r['summary'] == ('Send to AE title CHRISLOCAL at 192.168.10.20:10402: the listener answers C-ECHO (%d ms);'
                            ' last association never, 0 instance(s) today' % r['echo']['rtt_ms'])


def test_docker_default_route_is_not_the_address(gw):
    gw['route'] = (0, ROUTE_VIA_DOCKER, '')
    _kind, r = run(gw)
    assert r['host_ip'] == '192.168.10.20'
    assert 'no usable default route' in r['host_ip_reason']


def test_no_default_route_still_finds_host_ip(gw):
    gw['route'] = (2, '', 'RTNETLINK answers: Network is unreachable')
    _kind, r = run(gw)
    assert r['host_ip'] == '192.168.10.20'


def test_without_ip_command(gw):
    gw['bins'].discard('ip')
    _kind, r = run(gw)
    assert r['host_ip'] is None and r['host_ips'] == []
    assert r['summary'].startswith('Send to AE title CHRISLOCAL at (no address):10402')


def test_listener_echo_uses_the_settings(gw):
    run(gw, echo=True)
    (argv,) = echo_calls(gw)
    assert argv[argv.index('-aet') + 1] == 'PACSGATE-CHECK'
    assert argv[argv.index('-aec') + 1] == 'CHRISLOCAL'
    assert argv[-2:] == ['127.0.0.1', '10402'] and '+tls' not in argv


def test_listener_echo_options_override_the_settings(gw):
    gw['echo']['::1'] = ECHO_OK
    _kind, r = run(gw, echo=True, calling_aetitle='ADMIN', host='::1', timeout=3, aetitle='OTHER AE')
    (argv,) = echo_calls(gw)
    assert argv[argv.index('-aet') + 1] == 'ADMIN' and argv[-2:] == ['::1', '10402']
    assert argv[argv.index('-aec') + 1] == 'OTHER AE' and r['aetitle'] == 'OTHER AE'
    assert argv[argv.index('-to') + 1] == '3' and r['echo']['ok'] is True


def test_pacs_echo_calls_with_the_gateways_own_aetitle(gw):
    gw['settings']['pacs'].append({'name': 'old', 'aetitle': 'OLD PACS', 'host': '10.1.2.4', 'port': 11112})
    gw['echo']['10.1.2.3'] = ECHO_OK
    _kind, r = run(gw, pacs_echo=True)
    calls = echo_calls(gw)
    assert [c[c.index('-aet') + 1] for c in calls] == ['CHRISLOCAL', 'CHRISLOCAL']
    assert [c[c.index('-aec') + 1] for c in calls] == ['HOSPITALPACS', 'OLD PACS']
    assert [(p['name'], p['ok']) for p in r['pacs_echo']] == [('main', True), ('old', False)]
    assert r['pacs_echo'][0]['line'].startswith('PACS main (AE title HOSPITALPACS at 10.1.2.3:104): answers C-ECHO')
    assert r['pacs_echo'][1]['line'].startswith('PACS old (AE title OLD PACS at 10.1.2.4:11112): C-ECHO FAILED: ')
    assert conditions(r) == ['pacs_echo'] and 'PACS old did not answer' in r['summary']


@pytest.mark.parametrize('reply,words', [(ECHO_REFUSED, 'Connection refused'), (ECHO_TIMEOUT, 'timed out')])
def test_echo_failures_are_results(gw, reply, words):
    gw['echo']['127.0.0.1'] = reply
    kind, r = run(gw, echo=True)
    assert kind is ExitJson
    assert r['echo']['ok'] is False and words in r['echo']['message']
    assert conditions(r) == ['echo']
    assert 'C-ECHO FAILED' in r['summary'] and words in r['summary']


def test_echo_without_dcmtk(gw):
    gw['bins'].discard('echoscu')
    _kind, r = run(gw, echo=True)
    assert r['echo'] == {'ok': False, 'rtt_ms': None, 'message': "dcmtk's echoscu is not installed"}


def test_no_echo_unless_asked(gw):
    _kind, r = run(gw)
    assert 'echo' not in r and 'pacs_echo' not in r and not echo_calls(gw)
    assert 'the port listens (no C-ECHO sent)' in r['summary']


def make_certificate(directory, days):
    key, cert = os.path.join(directory, 'gw.key'), os.path.join(directory, 'gw.crt')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
                    '-days', str(days), '-subj', '/CN=gateway'], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return key, cert


@pytest.mark.parametrize('client_ca', [True, False])
def test_tls_echoes_and_certificate(gw, tmp_path, client_ca):
    key, cert = make_certificate(str(tmp_path), 30)
    ca = str(tmp_path / 'ca.crt') if client_ca else None
    gw['settings']['tls'] = {'cert': cert, 'key': key, 'client_ca': ca}
    gw['echo']['10.1.2.3'] = ECHO_OK
    _kind, r = run(gw, echo=True, pacs_echo=True)
    trust = ['+cf', ca] if client_ca else ['-ic']
    for argv in echo_calls(gw):
        start = argv.index('+tls')
        assert argv[start:start + 4] == ['+tls', key, cert, '-pw'] and argv[start + 4:start + 4 + len(trust)] == trust
    assert r['echo']['ok'] and r['pacs_echo'][0]['ok']
    assert r['tls']['enabled'] is True and 29.5 < r['tls']['days_left'] <= 30
    assert r['tls']['not_after'].endswith('Z') and r['problems'] == []


def test_tls_certificate_about_to_expire_is_a_problem(gw, tmp_path):
    key, cert = make_certificate(str(tmp_path), 3)
    gw['settings']['tls'] = {'cert': cert, 'key': key, 'client_ca': None}
    _kind, r = run(gw)
    assert conditions(r) == ['tls'] and 'expires' in r['problems'][0]['message']


def test_systemd_backend_comes_from_the_settings(gw):
    """The status playbook passes no backend: a systemd gateway is read as one (no NO LISTENER, no xinetd)."""
    gw['settings']['backend'] = 'systemd'
    (gw['root'] / 'run-systemd').mkdir()
    (gw['root'] / 'sbin' / 'xinetd').unlink()
    write(gw['root'] / 'units' / 'dicomlistener.socket', SOCKET_UNIT)
    write(gw['root'] / 'units' / 'dicomlistener@.service', SERVICE_UNIT % {'gate': gw['gate']})
    gw['show']['dicomlistener.socket'] = (0, SHOW % ('dicomlistener.socket', 'active', 'listening', 'success'), '')
    gw['show']['pacsgate-filer-dicomlistener.service'] = (
        0, SHOW % ('pacsgate-filer-dicomlistener.service', 'active', 'running', 'success'), '')
    _kind, r = run(gw, echo=True)
    lst = r['listener']
    assert (r['backend'], lst['manager'], lst['running'], lst['enabled'], lst['state']) == (
        'systemd', 'dicomlistener.socket', True, True, 'listening')
    assert lst['found'] is True and lst['gate_config'] == gw['gate']
    assert r['filer']['running'] is True and r['filer']['state'] == 'active'
    assert r['problems'] == [] and 'NO LISTENER' not in r['summary'] and 'xinetd' not in json.dumps(r)


def test_backend_option_overrides_and_socket_unit_decides_without_one(gw):
    del gw['settings']['backend']
    write(gw['root'] / 'units' / 'dicomlistener.socket', SOCKET_UNIT)
    write(gw['root'] / 'units' / 'dicomlistener@.service', SERVICE_UNIT % {'gate': gw['gate']})
    assert run(gw)[1]['backend'] == 'systemd'
    assert run(gw, backend='xinetd')[1]['backend'] == 'xinetd'


def test_failed_socket_is_a_listener_problem(gw):
    gw['settings']['backend'] = 'systemd'
    (gw['root'] / 'run-systemd').mkdir()
    write(gw['root'] / 'units' / 'dicomlistener.socket', SOCKET_UNIT)
    write(gw['root'] / 'units' / 'dicomlistener@.service', SERVICE_UNIT % {'gate': gw['gate']})
    gw['show']['dicomlistener.socket'] = (0, SHOW % ('dicomlistener.socket', 'failed', 'failed',
                                                     'trigger-limit-hit'), '')
    _kind, r = run(gw)
    assert r['problems'][0] == {'condition': 'listener',
                                'message': 'dicomlistener.socket is NOT RUNNING (trigger-limit-hit)'}
    # No filer unit known to systemd: not running.
    assert r['problems'][1]['message'].startswith('the filer pacsgate-filer-dicomlistener is NOT RUNNING')


def test_missing_settings_are_a_result_not_a_traceback(gw):
    kind, r = run(gw, config=str(gw['root'] / 'nosuch.json'), echo=True)
    assert kind is ExitJson
    assert r['problems'][0]['condition'] == 'listener'
    assert 'no usable settings: cannot read' in r['problems'][0]['message'] and 'ENOENT' in r['summary']
    assert 'filer' not in r and 'health' not in r and 'echo' not in r


def test_missing_service_file(gw):
    (gw['root'] / 'xinetd.d' / 'dicomlistener').unlink()
    _kind, r = run(gw)
    assert r['listener']['found'] is False
    assert r['problems'][0]['message'].startswith('NO LISTENER: no service file ')


def test_broken_service_file_reports_the_line(gw):
    with open(str(gw['root'] / 'xinetd.d' / 'dicomlistener'), 'a') as handle:
        handle.write('service second\n{\n    port = 1\n')
    _kind, r = run(gw)
    assert r['listener']['found'] is False
    assert 'dicomlistener:' in r['listener']['error'] and 'NO LISTENER' in r['summary']


def test_disabled_service_is_named(gw):
    path = gw['root'] / 'xinetd.d' / 'dicomlistener'
    path.write_text(path.read_text().replace('disable         = no', 'disable         = yes'))
    _kind, r = run(gw)
    assert r['listener']['disable'] is True and 'DISABLED' in r['summary']


def test_xinetd_and_filer_down(gw):
    for pid in ('412', '500'):
        os.remove(str(gw['root'] / 'proc' / pid / 'cmdline'))
    _kind, r = run(gw)
    assert [p['message'] for p in r['problems']] == [
        'xinetd is NOT RUNNING', 'the filer pacsgate-filer-dicomlistener is NOT RUNNING: nothing received is filed']


def test_check_mode_is_the_same_read(gw):
    _kind, r = run(gw, echo=True, _ansible_check_mode=True)
    assert r['changed'] is False and r['echo']['ok'] is True


def backlog(gw, now):
    """A stranded association in the queue, one receiving, two quarantined instances, stats of today."""
    tmp = str(gw['base'] / 'tmp')
    old = now - 3600
    stranded = os.path.join(tmp, 'queue', '20261201T110000-1-aaaaaaaa')
    os.makedirs(os.path.join(stranded, PATIENT))
    os.utime(stranded, (old, old))
    quarantine = os.path.join(tmp, 'quarantine', '20261201T100000-2-bbbbbbbb')
    os.makedirs(quarantine)
    for n, kind in ((1, 'ENAMETOOLONG'), (2, 'truncated')):
        write(os.path.join(quarantine, 'CT.%d.reason.json' % n), json.dumps({'reason': 'x', 'errno': kind}))
    os.makedirs(os.path.join(tmp, 'filed', '20261201T090000-3-cccccccc'))

    def mutate(stats):
        records.count_received(stats, now, 7)
        stats['instances_filed'] = 7
        stats['instances_superseded'] = 3
        stats['last_association_at'] = now - 120
        stats['associations']['accepted'] = 4
        stats['associations']['refused']['source'] = 2
    records.update_stats(str(gw['base'] / 'log'), mutate, now=now)


def test_health_counts_and_ages(gw):
    backlog(gw, time.time())
    _kind, r = run(gw)
    h = r['health']
    assert (h['queued'], h['stranded'], h['quarantined_instances'], h['filed_kept']) == (1, 1, 2, 1)
    assert h['quarantine_reasons'] == {'ENAMETOOLONG': 1, 'truncated': 1}
    assert (h['received_today'], h['instances_filed'], h['associations_accepted']) == (7, 7, 4)
    assert (h['instances_replaced'], h['instances_superseded']) == (0, 3)
    assert h['associations_refused'] == {'source': 2}
    assert 115 <= h['last_association_age'] < 200 and h['filer_updated_age'] < 60
    assert set(h['disk']) == {'tmp', 'data'} and h['disk']['data']['free_bytes'] > 0
    assert conditions(r) == ['stranded', 'quarantined']
    assert 'last association 2 min ago, 7 instance(s) today' in r['summary']


def test_no_paths_unless_asked(gw):
    backlog(gw, time.time())
    _kind, r = run(gw)
    text = json.dumps(r)
    assert PATIENT not in text and str(gw['base']) not in text
    assert 'paths' not in r['health'] and 'dirs' not in r['health']
    _kind, r = run(gw, show_paths=True)
    assert r['health']['dirs']['data_dir'] == str(gw['base'] / 'data')
    assert r['health']['paths']['stranded'] == [str(gw['base'] / 'tmp' / 'queue' / '20261201T110000-1-aaaaaaaa')]


def test_data_dir_is_never_read(gw, monkeypatch):
    data = str(gw['base'] / 'data')
    os.makedirs(os.path.join(data, PATIENT, 'STUDY'))
    seen = []
    for name in ('scandir', 'listdir', 'walk', 'fwalk'):
        original = getattr(os, name)

        def spy(path='.', *args, _original=original, **kwargs):
            seen.append(path)
            return _original(path, *args, **kwargs)
        monkeypatch.setattr(os, name, spy)
    run(gw)
    assert not [p for p in seen if isinstance(p, str) and p.startswith(data)]


def test_symlinks_in_the_tmp_tree_are_not_followed(gw, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    old = time.time() - 3600
    for name in ('a', 'b'):
        (elsewhere / name).mkdir(parents=True)
        os.utime(str(elsewhere / name), (old, old))
    os.symlink(str(elsewhere), str(gw['base'] / 'tmp' / 'queue'))
    _kind, r = run(gw)
    assert (r['health']['queued'], r['health']['stranded']) == (0, 0)


def test_health_can_be_skipped(gw):
    _kind, r = run(gw, health=False)
    assert 'health' not in r


def test_free_space_below_the_threshold_is_a_disk_problem(gw):
    _kind, r = run(gw, min_free_percent=100)
    assert conditions(r) == ['disk', 'disk']
    assert r['problems'][0]['message'].startswith('the data file system has ')


def test_px_listen_mode(gw, tmp_path):
    venv = tmp_path / 'venv' / 'bin'
    write(venv / 'px-listen', '#!/bin/sh\n')
    write(gw['gate'], 'mode plain\nexec %s\narg -I\narg /usr/local/libexec/pacsgate/px_listen_lean.py\n'
          'arg -t\narg /home/dicom/tmp\n' % (venv / 'python'))
    gw['settings']['receiver'] = 'px-listen'
    _kind, r = run(gw)
    assert r['px_listen'] == {'link': str(venv / 'px-listen'), 'target': str(venv / 'px-listen'), 'version': '1.2.0'}
    assert [c for c in gw['calls'] if c[-1] == '--version'] == [[str(venv / 'px-listen'), '--version']]


def test_px_listen_unknown_is_null_not_blank(gw):
    write(gw['gate'], 'mode plain\nexec /nonexistent/px-listen\n')
    gw['settings']['receiver'] = 'px-listen'
    _kind, r = run(gw)
    assert r['px_listen'] == {'link': '/nonexistent/px-listen', 'target': None, 'version': None}
    os.remove(gw['gate'])
    _kind, r = run(gw)
    assert r['px_listen'] == {'link': None, 'target': None, 'version': None}
