"""The gate in TLS mode: it reads nothing (the A-ASSOCIATE-RQ is inside TLS), checks the source and
the refuse flag, refuses by closing, and execs storescp, which does TLS. Certificates are made here
with openssl: a CA, the gateway's, a sender's, and a sender's signed by another CA."""

import os
import socket
import subprocess

import pytest

from gatetest import CALLED, CALLING, ECHOSCU, STORESCP, recv_all, run


def openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(name, cwd):
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', name + '.key', '-out', name + '.crt',
            '-days', '2', '-subj', '/CN=pacsgate test %s' % name,
            '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
            cwd=cwd)


def make_cert(name, ca, cwd):
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', name + '.key', '-out', name + '.csr',
            '-subj', '/CN=%s' % name, cwd=cwd)
    openssl('x509', '-req', '-in', name + '.csr', '-CA', ca + '.crt', '-CAkey', ca + '.key', '-CAcreateserial',
            '-out', name + '.crt', '-days', '2', cwd=cwd)


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    path = tmp_path_factory.mktemp('pki')
    cwd = str(path)
    make_ca('ca', cwd)
    make_ca('otherca', cwd)
    make_cert('gateway', 'ca', cwd)
    make_cert('sender', 'ca', cwd)
    make_cert('intruder', 'otherca', cwd)
    return lambda name: os.path.join(cwd, name)


def tls_gate(make_gate, pki, **overrides):
    argv = [STORESCP, '--inetd', '--aetitle', CALLED, '--acse-timeout', '10', '--dimse-timeout', '20',
            '--promiscuous', '--bit-preserving', '+xa',
            '+tls', pki('gateway.key'), pki('gateway.crt'), '--require-peer-cert', '+cf', pki('ca.crt')]
    settings = dict(mode='tls', argv=argv)
    settings.update(overrides)
    return make_gate(**settings)


def echoscu_tls(port, pki, key='sender', extra=()):
    return run([ECHOSCU, '+tls', pki(key + '.key'), pki(key + '.crt'), '+cf', pki('ca.crt'),
                '-aet', CALLING, '-aec', CALLED] + list(extra) + ['127.0.0.1', str(port)])


def test_tls_echo_with_a_good_client_certificate_is_accepted(make_gate, pki):
    gate = tls_gate(make_gate, pki)
    port = gate.listen()
    rc, out = echoscu_tls(port, pki)
    assert rc == 0, out
    [proc] = gate.wait()
    assert proc.returncode == 0
    [name] = gate.association_dirs()
    fields = dict(line.split('=', 1) for line in (gate.incoming / name / '.association').read_text().splitlines())
    # the AE titles are inside TLS: the gate cannot know them
    assert (fields['calling'], fields['called'], fields['peer']) == ('', '', '127.0.0.1')
    [line] = gate.log_lines()
    assert (line['what'], line['id'], line['calling'], line['called']) == ('accepted', name, '-', '-')


def test_tls_plain_client_and_foreign_ca_client_are_refused_by_storescp(make_gate, pki):
    gate = tls_gate(make_gate, pki)
    port = gate.listen()
    rc, out = run([ECHOSCU, '-aet', CALLING, '-aec', CALLED, '127.0.0.1', str(port)])
    assert rc != 0, out
    rc, out = echoscu_tls(port, pki, key='intruder')
    assert rc != 0, out
    procs = gate.wait(2)
    # the gate let them through (it sees only the source); storescp refused them and exited
    assert [x['what'] for x in gate.log_lines()] == ['accepted', 'accepted']
    assert all(p.returncode is not None for p in procs)
    for name in gate.association_dirs():
        assert sorted(os.listdir(str(gate.incoming / name))) == ['.association', '.lock']


def test_tls_source_outside_the_rules_is_refused_by_closing(make_gate, pki):
    gate = tls_gate(make_gate, pki, peers=[{'aetitle': CALLING, 'source': '10.0.0.0/8'}])
    port = gate.listen()
    rc, out = echoscu_tls(port, pki)
    assert rc != 0, out
    with socket.create_connection(('127.0.0.1', port)) as sock:
        assert recv_all(sock) == b''  # closed without reading anything
    gate.wait(2)
    assert gate.association_dirs() == []
    assert [(x['what'], x['reason'], x['calling'], x['called']) for x in gate.log_lines()] == [
        ('refused', 'source', '-', '-')] * 2
    assert [m['msg'] for m in gate.syslog_messages()] == ['refused source id=- peer=127.0.0.1 calling=- called=-'] * 2


def test_tls_any_rule_network_admits_whatever_its_aetitle(make_gate, pki):
    gate = tls_gate(make_gate, pki, peers=[{'aetitle': 'SOMEOTHER', 'source': '127.0.0.0/8'}])
    port = gate.listen()
    rc, out = echoscu_tls(port, pki)
    assert rc == 0, out
    gate.wait()
    assert gate.log_lines()[0]['what'] == 'accepted'


def test_tls_refuse_flag_closes(make_gate, pki):
    gate = tls_gate(make_gate, pki)
    gate.refuse_flag.write_text('low space\n')
    port = gate.listen()
    rc, out = echoscu_tls(port, pki)
    assert rc != 0, out
    gate.wait()
    assert gate.log_lines()[0]['reason'] == 'disk'
    assert gate.association_dirs() == []
