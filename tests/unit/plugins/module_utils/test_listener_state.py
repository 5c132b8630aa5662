"""The listener's state (plugins/module_utils/listener_state.py): certificates made with openssl, echoscu's
recorded output, the gate's exec line, and problems and the summary from results."""

import calendar
import os
import subprocess

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import gateconf
from ansible_collections.pacsgate.listener.plugins.module_utils import listener_state as ls

NOW = 1796126400.0  # 2026-12-01T12:00:00Z


def openssl_certificate(tmp_path, *args):
    cert = str(tmp_path / 'c.crt')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', str(tmp_path / 'c.key'),
                    '-out', cert, '-subj', '/CN=gw'] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    end = subprocess.run(['openssl', 'x509', '-noout', '-enddate', '-in', cert], check=True, stdout=subprocess.PIPE,
                         universal_newlines=True, env=dict(os.environ, LC_ALL='C')).stdout
    # notAfter=Dec  1 12:00:00 2027 GMT
    import time
    expected = calendar.timegm(time.strptime(end.strip().split('=', 1)[1], '%b %d %H:%M:%S %Y GMT'))
    with open(cert, 'rb') as handle:
        return handle.read(), expected


@pytest.mark.parametrize('days', ['1', '400', '10000'])  # 10000 days: a GeneralizedTime after 2049
def test_certificate_not_after_agrees_with_openssl(tmp_path, days):
    pem, expected = openssl_certificate(tmp_path, '-days', days)
    assert ls.certificate_not_after(pem) == expected
    assert ls.certificate_not_after(b'junk before\n' + pem + pem) == expected


@pytest.mark.parametrize('data', [b'', b'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
                                  b'-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n'])
def test_what_is_no_certificate_is_a_value_error(data):
    with pytest.raises(ValueError):
        ls.certificate_not_after(data)


def test_tls_state(tmp_path):
    pem, expected = openssl_certificate(tmp_path, '-days', '10')
    state = ls.tls_state({'cert': str(tmp_path / 'c.crt'), 'key': 'k', 'client_ca': None}, NOW)
    assert state['not_after_ts'] == expected and state['error'] is None
    assert state['days_left'] == round((expected - NOW) / 86400.0, 1)
    missing = ls.tls_state({'cert': str(tmp_path / 'none.crt'), 'key': 'k'}, NOW)
    assert missing['enabled'] is True and missing['error'] == 'certificate not readable (missing)'
    os.symlink(str(tmp_path / 'c.crt'), str(tmp_path / 'link.crt'))
    assert ls.tls_state({'cert': str(tmp_path / 'link.crt'), 'key': 'k'}, NOW)['error'] == \
        'certificate not readable (a symlink)'
    assert ls.tls_state(None, NOW)['enabled'] is False


def test_echo_parses_echoscu():
    calls = []

    def run(argv):
        calls.append(argv)
        return 1, '', 'I: Requesting Association\nE: bad\nF: worse\n'
    result = ls.echo(run, '/usr/bin/echoscu', 'ME', 'YOU', 'pacs.example.org', 104, 5,
                     {'key': '/k', 'cert': '/c', 'client_ca': None}, clock=iter([1.0, 1.25]).__next__)
    assert result == {'ok': False, 'rtt_ms': 250.0, 'message': 'bad; worse'}
    assert calls == [['/usr/bin/echoscu', '-v', '-aet', 'ME', '-to', '5', '-ta', '5', '-td', '5', '-aec', 'YOU',
                      '+tls', '/k', '/c', '-pw', '-ic', 'pacs.example.org', '104']]
    # exit 0 without dcmtk's Success line (another echoscu on PATH) is no success
    assert ls.echo(lambda argv: (0, 'ok', ''), '/x/echoscu', 'ME', None, 'h', 1, 5)['ok'] is False
    assert ls.echo(lambda argv: (0, '', ''), '/x/echoscu', 'ME', None, None, 1, 5)['message'] == \
        'no address or port to send the C-ECHO to'


def test_gate_argv_reads_the_rendered_file(tmp_path):
    text = gateconf.render({'mode': 'plain', 'called': 'AE', 'peers': [{'aetitle': None, 'source': '127.0.0.1'}],
                            'refuse_flag': '/t/.f', 'incoming': None, 'log': '/l/a.log', 'acse_timeout': 30,
                            'argv': ['/v/bin/python', '-I', '/x/px_listen_lean.py', '-t', '/home/a b'],
                            'output_option': None})
    path = tmp_path / 'g.gate'
    path.write_text(text)
    assert ls.gate_argv(str(path)) == ['/v/bin/python', '-I', '/x/px_listen_lean.py', '-t', '/home/a b']
    assert ls.gate_argv(str(tmp_path / 'none.gate')) == []
    assert ls.px_listen(None, ['/v/bin/python', '-I', '/x/px_listen_lean.py'])['link'] == '/v/bin/px-listen'


def test_rc_links(tmp_path, monkeypatch):
    monkeypatch.setattr(ls, 'RC_DIR', str(tmp_path))
    assert ls._rc_enabled('xinetd') is None
    (tmp_path / 'rc2.d').mkdir()
    (tmp_path / 'rc2.d' / 'K01xinetd').write_text('')
    (tmp_path / 'rc2.d' / 'S01xinetd-other').write_text('')
    assert ls._rc_enabled('xinetd') is False
    (tmp_path / 'rc2.d' / 'S01xinetd').write_text('')
    assert ls._rc_enabled('xinetd') is True


def healthy():
    return {
        'aetitle': 'AE', 'host_ip': '10.0.0.5', 'port': 104,
        'listener': {'found': True, 'running': True, 'listening': True, 'disable': False, 'manager': 'xinetd',
                     'port': 104, 'definition': '/etc/xinetd.d/x'},
        'filer': {'unit': 'pacsgate-filer-x', 'running': True},
        'echo': {'ok': True, 'rtt_ms': 12.0, 'message': 'answered with Success'},
        'pacs_echo': [],
        'tls': {'enabled': False, 'days_left': None, 'error': None},
        'health': {'stranded': 0, 'stranded_after': 300, 'oldest_pending_age': None, 'quarantined_instances': 0,
                   'quarantine_reasons': {}, 'refuse': False, 'refuse_reason': None, 'problems': [],
                   'last_association_age': 7200.0, 'received_today': 3,
                   'disk': {'tmp': {'free_percent': 50.0, 'free_bytes': 10 << 30},
                            'data': {'free_percent': 50.0, 'free_bytes': 10 << 30}}},
    }


@pytest.mark.parametrize('change, expected', [
    (lambda r: r['listener'].update(listening=False), [('listener', 'NOTHING LISTENS on port 104')]),
    (lambda r: r['echo'].update(ok=False, message='refused'), [('echo', 'the listener did not answer a C-ECHO: refused')]),
    (lambda r: r['health'].update(stranded=2, oldest_pending_age=900.0),
     [('stranded', '2 association(s) received and not filed for over 5 min (oldest 15 min)')]),
    (lambda r: r['health'].update(quarantined_instances=3, quarantine_reasons={'EINVAL': 1, 'truncated': 2}),
     [('quarantined', '3 instance(s) in quarantine (EINVAL: 1, truncated: 2)')]),
    (lambda r: r['health'].update(refuse=True, refuse_reason='free space low'),
     [('disk', 'REFUSING associations: free space low')]),
    (lambda r: r['health']['disk']['data'].update(free_percent=9.5), [('disk', 'the data file system has 9.5% free (10240 MB)')]),
    (lambda r: r['health']['disk']['tmp'].update(free_bytes=100 << 20), [('disk', 'the tmp file system has 50.0% free (100 MB)')]),
    (lambda r: r['tls'].update(enabled=True, days_left=-1.0, not_after='2026-11-30T12:00:00Z'),
     [('tls', 'the TLS certificate EXPIRED on 2026-11-30T12:00:00Z')]),
    (lambda r: r['filer'].update(running=False),
     [('listener', 'the filer pacsgate-filer-x is NOT RUNNING: nothing received is filed')]),
])
def test_problems(change, expected):
    result = healthy()
    assert ls.problems(result, 10, 1024) == []
    change(result)
    assert [(p['condition'], p['message']) for p in ls.problems(result, 10, 1024)] == expected


def test_summary():
    result = healthy()
    assert ls.summary(result) == ('Send to AE title AE at 10.0.0.5:104: the listener answers C-ECHO (12 ms); '
                                  'last association 2 h ago, 3 instance(s) today')
    result['problems'] = [{'condition': 'echo', 'message': 'x'}]
    result['echo']['ok'] = False
    assert ls.summary(result).endswith(': C-ECHO FAILED; last association 2 h ago, 3 instance(s) today [x]')
