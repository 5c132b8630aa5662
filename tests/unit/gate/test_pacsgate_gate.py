"""The per-association gate (roles/dicom_listener/files/pacsgate-gate) with real connections on
loopback, the host's storescp/echoscu/storescu and pynetdicom."""

import ipaddress
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from gatetest import (ASSOCIATION_ID, CALLED, CALLING, ECHOSCU, GATE, PERL, RELEASE_RQ, STORESCU, associate_rq,
                      lock_is_held, pynetdicom_echo, recv_all, recv_pdu, run)

# A-ASSOCIATE-RJ: 03 00 00000004 00 result source reason
RJ_CALLED = b'\x03\x00\x00\x00\x00\x04\x00\x01\x01\x07'
RJ_CALLING = b'\x03\x00\x00\x00\x00\x04\x00\x01\x01\x03'
RJ_SOURCE = b'\x03\x00\x00\x00\x00\x04\x00\x01\x01\x01'
RJ_TRANSIENT = b'\x03\x00\x00\x00\x00\x04\x00\x02\x03\x01'


def rejected(assoc):
    """pynetdicom's view of a refused association (see gatetest.pynetdicom_echo for the abort)."""
    return not assoc.is_established and (assoc.is_rejected or assoc.is_aborted)


def raw_association(port, called=CALLED, calling=CALLING, host='127.0.0.1', pieces=1, pause=0.0):
    """Send an A-ASSOCIATE-RQ (in PIECES with PAUSE between them); on an A-ASSOCIATE-AC, release.
    Returns the PDU type answered (2 AC, 3 RJ) and the answer's bytes."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect((host, port))
        rq = associate_rq(called, calling)
        step = -(-len(rq) // pieces)
        for start in range(0, len(rq), step):
            sock.sendall(rq[start:start + step])
            time.sleep(pause)
        pdu_type, data = recv_pdu(sock)
        if pdu_type == 2:
            sock.sendall(RELEASE_RQ)
            assert recv_pdu(sock)[0] == 6
        elif pdu_type == 3:
            # the requestor closes on an A-ASSOCIATE-RJ; nothing else may have followed it
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == b''
        return pdu_type, data


def check_association_dir(gate, proc, calling=CALLING, called=CALLED, peer='127.0.0.1'):
    """The one association dir: its name, .association, a free .lock, no .new- dir left."""
    dirs = gate.association_dirs()
    assert len(dirs) == 1, dirs
    match = re.fullmatch(ASSOCIATION_ID, dirs[0])
    assert match and int(match.group('pid')) == proc.pid
    path = gate.incoming / dirs[0]
    assert oct(path.stat().st_mode & 0o777) == '0o750'
    fields = dict(line.split('=', 1) for line in (path / '.association').read_text().splitlines())
    assert set(fields) == {'calling', 'called', 'peer', 'started', 'pid'}
    assert (fields['calling'], fields['called'], fields['peer'], fields['pid']) == (calling, called, peer, str(proc.pid))
    assert re.fullmatch(r'\d+\.\d{6}', fields['started'])
    assert abs(float(fields['started']) - time.time()) < 60
    assert not lock_is_held(str(path / '.lock'))
    return path


def test_echoscu_is_accepted_and_storescp_gets_an_association_dir(make_gate):
    gate = make_gate()
    port = gate.listen()
    rc, out = run([ECHOSCU, '-aet', CALLING, '-aec', CALLED, '127.0.0.1', str(port)])
    assert rc == 0, out
    [proc] = gate.wait()
    assert proc.returncode == 0
    path = check_association_dir(gate, proc)
    assert sorted(os.listdir(str(path))) == ['.association', '.lock']
    [line] = gate.log_lines()
    assert line == {'what': 'accepted', 'reason': '-', 'id': path.name, 'peer': '127.0.0.1',
                    'calling': CALLING, 'called': CALLED}
    assert gate.syslog_messages() == []


def test_storescu_files_land_in_the_association_dir_bit_for_bit(make_gate, tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file

    source = get_testdata_file('CT_small.dcm')
    gate = make_gate()
    port = gate.listen()
    rc, out = run([STORESCU, '-aet', CALLING, '-aec', CALLED, '127.0.0.1', str(port), source])
    assert rc == 0, out
    [proc] = gate.wait()
    path = check_association_dir(gate, proc)
    sent = pydicom.dcmread(source)
    name = 'CT.%s' % sent.SOPInstanceUID
    assert sorted(os.listdir(str(path))) == ['.association', '.lock', name]
    received = pydicom.dcmread(str(path / name))
    assert received.SOPInstanceUID == sent.SOPInstanceUID
    assert received.PixelData == sent.PixelData
    assert gate.log_lines()[0]['what'] == 'accepted'


def test_the_lock_is_held_by_storescp_for_the_whole_association(make_gate):
    gate = make_gate()
    port = gate.listen()
    assoc, answer = pynetdicom_echo(port, CALLED, CALLING, keep_open=True)
    try:
        assert assoc.is_established, answer
        proc = gate.first_proc()
        # exec, not fork: the gate's process is storescp now, holding the lock it inherited
        assert os.readlink('/proc/%d/exe' % proc.pid) == '/usr/bin/storescp'
        [name] = gate.association_dirs()
        lock = gate.incoming / name / '.lock'
        assert lock_is_held(str(lock))
        fds = [os.readlink('/proc/%d/fd/%s' % (proc.pid, fd)) for fd in os.listdir('/proc/%d/fd' % proc.pid)]
        assert str(lock) in fds
        assert str(gate.conf_path) not in fds and str(gate.log) not in fds
        assert not any(n.startswith('.new-') for n in gate.association_dirs())
        assert assoc.send_c_echo().Status == 0
    finally:
        assoc.release()
    gate.wait()
    assert not lock_is_held(str(lock))


def test_the_lock_is_released_when_storescp_is_killed(make_gate):
    gate = make_gate()
    port = gate.listen()
    assoc, answer = pynetdicom_echo(port, CALLED, CALLING, keep_open=True)
    assert assoc.is_established, answer
    proc = gate.first_proc()
    [name] = gate.association_dirs()
    lock = gate.incoming / name / '.lock'
    assert lock_is_held(str(lock))
    proc.kill()
    proc.wait()
    assert not lock_is_held(str(lock))
    assoc.abort()


def test_wrong_called_aetitle_is_rejected_as_not_recognized(make_gate):
    gate = make_gate()
    port = gate.listen()
    rc, out = run([ECHOSCU, '-aet', CALLING, '-aec', 'SOMEONEELSE', '127.0.0.1', str(port)])
    assert rc != 0
    assert 'Called AE Title Not Recognized' in out, out
    assert 'Rejected Permanent' in out and 'Service User' in out
    assoc, answer = pynetdicom_echo(port, 'SOMEONEELSE', CALLING)
    assert rejected(assoc), answer
    assert answer == {'result': 1, 'source': 1, 'reason': 7}
    assert raw_association(port, called='SOMEONEELSE') == (3, RJ_CALLED)
    gate.wait(3)
    assert gate.association_dirs() == []
    lines = gate.log_lines()
    assert [(x['what'], x['reason'], x['id'], x['called']) for x in lines] == [
        ('refused', 'called-aetitle', '-', 'SOMEONEELSE')] * 3
    messages = gate.syslog_messages()
    assert len(messages) == 3
    assert messages[0]['msg'] == 'refused called-aetitle id=- peer=127.0.0.1 calling=PACS called=SOMEONEELSE'
    assert int(messages[0]['pid']) == gate.procs[0].pid


def test_after_a_rejection_the_gate_waits_a_little_for_the_requestor_to_close(make_gate):
    """DICOM's requestor closes on an A-ASSOCIATE-RJ; one that does not is closed after
    min(acse-timeout, 10) s, and the RJ is never lost to a reset of the connection."""
    gate = make_gate(acse_timeout=1, called='NOTTHISONE')
    port = gate.listen()
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(associate_rq(CALLED, CALLING))
        started = time.monotonic()
        assert recv_all(sock) == RJ_CALLED
        waited = time.monotonic() - started
    gate.wait()
    assert 0.9 < waited < 5


def test_called_star_accepts_any_called_aetitle(make_gate):
    gate = make_gate(called=None)
    port = gate.listen()
    rc, out = run([ECHOSCU, '-aet', CALLING, '-aec', 'ANYTHING', '127.0.0.1', str(port)])
    assert rc == 0, out
    [proc] = gate.wait()
    check_association_dir(gate, proc, called='ANYTHING')
    assert gate.log_lines()[0]['called'] == 'ANYTHING'


def test_calling_aetitle_not_declared_for_the_source_is_reason_3(make_gate):
    gate = make_gate(peers=[{'aetitle': 'OTHER', 'source': '127.0.0.0/8'},
                            {'aetitle': CALLING, 'source': '10.1.2.3'}])
    port = gate.listen()
    assoc, answer = pynetdicom_echo(port, CALLED, CALLING)
    assert rejected(assoc), answer
    assert answer == {'result': 1, 'source': 1, 'reason': 3}
    rc, out = run([ECHOSCU, '-aet', CALLING, '-aec', CALLED, '127.0.0.1', str(port)])
    assert 'Calling AE Title Not Recognized' in out, out
    gate.wait(2)
    assert [x['reason'] for x in gate.log_lines()] == ['calling-aetitle'] * 2
    assert [m['msg'].split()[1] for m in gate.syslog_messages()] == ['calling-aetitle'] * 2
    assert gate.association_dirs() == []


def test_source_matching_no_rule_is_reason_1(make_gate):
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': '10.0.0.0/8'}, {'aetitle': None, 'source': '::1'}])
    port = gate.listen()
    assoc, answer = pynetdicom_echo(port, CALLED, CALLING)
    assert rejected(assoc), answer
    assert answer == {'result': 1, 'source': 1, 'reason': 1}
    assert raw_association(port) == (3, RJ_SOURCE)
    gate.wait(2)
    assert [(x['reason'], x['peer']) for x in gate.log_lines()] == [('source', '127.0.0.1')] * 2
    assert gate.syslog_messages()[0]['msg'].startswith('refused source id=- peer=127.0.0.1 ')


def test_any_calling_aetitle_rule(make_gate):
    gate = make_gate(peers=[{'aetitle': None, 'source': '127.0.0.0/8'}])
    port = gate.listen()
    rc, out = run([ECHOSCU, '-aet', 'WHOEVER', '-aec', CALLED, '127.0.0.1', str(port)])
    assert rc == 0, out
    [proc] = gate.wait()
    check_association_dir(gate, proc, calling='WHOEVER')


def test_ipv6_peer(make_gate):
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': '::1'}])
    port = gate.listen('::1')
    assert raw_association(port, host='::1')[0] == 2
    [proc] = gate.wait()
    check_association_dir(gate, proc, peer='::1')
    assert gate.log_lines()[0]['peer'] == '::1'


def test_ipv6_peer_outside_the_rules(make_gate):
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': '127.0.0.1'},
                            {'aetitle': CALLING, 'source': 'fd00::/8'}])
    port = gate.listen('::1')
    assert raw_association(port, host='::1') == (3, RJ_SOURCE)
    gate.wait()
    assert [(x['reason'], x['peer']) for x in gate.log_lines()] == [('source', '::1')]


@pytest.mark.parametrize('source', ['127.0.0.1', '::ffff:127.0.0.1', '::ffff:127.0.0.0/104', '::/0'])
def test_ipv4_mapped_peer_counts_as_ipv4(make_gate, source):
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': source}])
    port = gate.listen('::', dual_stack=True)
    assert raw_association(port, host='127.0.0.1')[0] == 2
    [proc] = gate.wait()
    check_association_dir(gate, proc, peer='127.0.0.1')
    assert gate.log_lines()[0]['peer'] == '127.0.0.1'


def test_ipv4_mapped_peer_not_matched_by_an_ipv6_rule(make_gate):
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': '::1'}, {'aetitle': CALLING, 'source': 'fe80::/10'}])
    port = gate.listen('::', dual_stack=True)
    assert raw_association(port, host='127.0.0.1') == (3, RJ_SOURCE)
    gate.wait()
    assert gate.log_lines()[0]['reason'] == 'source'


def test_host_name_rule(make_gate):
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': 'localhost'}])
    port = gate.listen()
    rc, out = run([ECHOSCU, '-aet', CALLING, '-aec', CALLED, '127.0.0.1', str(port)])
    assert rc == 0, out
    # the name admits the source, but not with another calling AE title
    assert raw_association(port, calling='OTHER') == (3, RJ_CALLING)
    gate.wait(2)
    assert [x['reason'] for x in gate.log_lines()] == ['-', 'calling-aetitle']


def test_host_name_rule_resolves_to_ipv4_only(make_gate):
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': 'localhost'}])
    port = gate.listen('::1')
    assert raw_association(port, host='::1') == (3, RJ_SOURCE)
    gate.wait()


def test_refuse_flag_is_rejected_transient(make_gate):
    gate = make_gate()
    gate.refuse_flag.write_text('free space below 1024 MB\n')
    port = gate.listen()
    assoc, answer = pynetdicom_echo(port, CALLED, CALLING)
    assert rejected(assoc), answer
    assert answer == {'result': 2, 'source': 3, 'reason': 1}
    assert raw_association(port) == (3, RJ_TRANSIENT)
    rc, out = run([ECHOSCU, '-aet', CALLING, '-aec', CALLED, '127.0.0.1', str(port)])
    assert 'Rejected Transient' in out and 'Temporary Congestion' in out, out
    gate.wait(3)
    assert [x['reason'] for x in gate.log_lines()] == ['disk'] * 3
    assert [m['msg'].split()[:2] for m in gate.syslog_messages()] == [['refused', 'disk']] * 3
    assert gate.association_dirs() == []
    # the checks' order: a wrong called AE title is reported as such, even while the flag is up
    assert raw_association(port, called='ELSEWHERE') == (3, RJ_CALLED)
    gate.refuse_flag.unlink()
    assert raw_association(port)[0] == 2
    gate.wait(5)
    assert [x['reason'] for x in gate.log_lines()][3:] == ['called-aetitle', '-']


def test_a_client_that_sends_nothing_times_out(make_gate):
    gate = make_gate(acse_timeout=1)
    port = gate.listen()
    with socket.create_connection(('127.0.0.1', port)) as sock:
        started = time.monotonic()
        assert recv_all(sock) == b''
        waited = time.monotonic() - started
    gate.wait()
    assert 0.9 < waited < 5
    [line] = gate.log_lines()
    assert (line['what'], line['reason'], line['id'], line['calling'], line['called']) == (
        'refused', 'protocol', '-', '-', '-')
    [message] = gate.syslog_messages()
    assert message['msg'] == ('refused protocol id=- peer=127.0.0.1 calling=- called=- '
                              '(no association request within 1 s)')


def test_a_client_that_connects_and_closes(make_gate):
    gate = make_gate(acse_timeout=10)
    port = gate.listen()
    socket.create_connection(('127.0.0.1', port)).close()
    started = time.monotonic()
    gate.wait()
    assert time.monotonic() - started < 5
    assert gate.log_lines()[0]['reason'] == 'protocol'
    assert gate.syslog_messages()[0]['msg'].endswith('(closed before sending anything)')


def test_a_client_that_closes_after_part_of_the_request(make_gate):
    gate = make_gate(acse_timeout=10)
    port = gate.listen()
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(associate_rq(CALLED, CALLING)[:20])
        sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert recv_all(sock) == b''
    gate.wait()
    assert time.monotonic() - started < 5
    assert gate.syslog_messages()[0]['msg'].endswith('(closed after 20 bytes)')
    assert gate.association_dirs() == []


@pytest.mark.parametrize('called', [CALLED, 'SOMEONEELSE'])
def test_a_client_that_resets_right_after_its_request(make_gate, called):
    """Whatever the gate still reads of it, the connection is logged and the gate exits."""
    gate = make_gate()
    port = gate.listen()
    sock = socket.create_connection(('127.0.0.1', port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.sendall(associate_rq(called, CALLING))
    sock.close()  # RST
    [proc] = gate.wait()
    [line] = gate.log_lines()
    # the reset usually reaches the kernel before the gate runs: no peer address is left then
    assert (line['what'], line['reason'], line['peer']) in (
        ('refused', 'protocol', '-'), ('refused', 'protocol', '127.0.0.1'),
        ('refused', 'called-aetitle', '127.0.0.1'), ('accepted', '-', '127.0.0.1'))
    if called != CALLED:
        assert line['what'] == 'refused'
    assert proc.returncode == 0


def test_a_request_sent_in_pieces_is_waited_for(make_gate):
    gate = make_gate()
    port = gate.listen()
    assert raw_association(port, pieces=4, pause=0.2)[0] == 2
    [proc] = gate.wait()
    check_association_dir(gate, proc)


@pytest.mark.parametrize('payload, detail', [
    (RELEASE_RQ, 'PDU type 0x05'),
    (b'GET / HTTP/1.0\r\n\r\n', 'PDU type 0x47'),
    (b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + bytes(40), 'PDU type 0x16'),  # a TLS ClientHello
])
def test_another_pdu_or_garbage_is_closed_unanswered(make_gate, payload, detail):
    gate = make_gate()
    port = gate.listen()
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(payload)
        assert recv_all(sock) == b''
    gate.wait()
    assert gate.log_lines()[0]['reason'] == 'protocol'
    assert gate.syslog_messages()[0]['msg'].endswith('(not an association request: %s)' % detail)
    assert gate.association_dirs() == []


def test_aetitles_with_inner_spaces_and_16_characters(make_gate):
    called, calling = 'GATE WAY 16CHARS', 'A PACS  WITH SP'
    assert len(called) == 16
    gate = make_gate(called=called, peers=[{'aetitle': calling, 'source': '127.0.0.1'},
                                           {'aetitle': 'SIXTEENCHARSLONG', 'source': '127.0.0.1'}])
    port = gate.listen()
    rc, out = run([ECHOSCU, '-aet', calling, '-aec', called, '127.0.0.1', str(port)])
    assert rc == 0, out
    [proc] = gate.wait()
    check_association_dir(gate, proc, calling=calling, called=called)
    assoc, answer = pynetdicom_echo(port, called, 'SIXTEENCHARSLONG')
    assert assoc.is_released and answer.get('echo_status') == 0, answer
    # leading spaces are not significant; inner ones are
    assert raw_association(port, called='  ' + called[:14].rstrip(), calling=calling) == (3, RJ_CALLED)
    assert raw_association(port, called=' GATE WAY 16CHAR', calling=calling) == (3, RJ_CALLED)
    assert raw_association(port, called=called, calling=' ' + calling)[0] == 2
    assert raw_association(port, called='GATE  WAY 16CHAR', calling=calling) == (3, RJ_CALLED)
    gate.wait(6)
    lines = gate.log_lines()
    assert (lines[0]['calling'], lines[0]['called']) == ('A_PACS__WITH_SP', 'GATE_WAY_16CHARS')
    assert [x['reason'] for x in lines] == ['-', '-', 'called-aetitle', 'called-aetitle', '-', 'called-aetitle']
    assert lines[2]['called'] == 'GATE_WAY_16CHA'


def test_aetitle_bytes_outside_printable_ascii_are_logged_as_underscores(make_gate):
    gate = make_gate()
    port = gate.listen()
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(associate_rq('GATE\nWAY', 'X\x00Y\x7fZ'))
        assert recv_pdu(sock) == (3, RJ_CALLED)
    gate.wait()
    line = gate.log.read_text()
    assert line.count('\n') == 1
    assert line.rstrip('\n').endswith('calling=X_Y_Z called=GATE_WAY')


def test_refusal_on_a_socket_also_on_stderr_writes_only_the_rj(make_gate):
    """Under xinetd fd 2 is the connection too: nothing but the A-ASSOCIATE-RJ may reach it."""
    gate = make_gate(peers=[{'aetitle': CALLING, 'source': '10.0.0.0/8'}])
    port = gate.listen(stderr_on_socket=True)
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(associate_rq(CALLED, CALLING))
        assert recv_pdu(sock) == (3, RJ_SOURCE)
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b''
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(b'garbage')
        assert recv_all(sock) == b''
    gate.wait(2)


def test_px_listen_mode_execs_the_configured_argv_without_a_dir(make_gate, tmp_path):
    record = tmp_path / 'exec-record.json'
    script = tmp_path / 'fake-px-listen.py'
    script.write_text(
        'import json, os, socket, sys\n'
        'sock = socket.socket(fileno=os.dup(0))\n'
        'data = b""\n'
        'while len(data) < 6 or len(data) < 6 + int.from_bytes(data[2:6], "big"):\n'
        '    data += sock.recv(65536)\n'
        'json.dump({"argv": sys.argv, "pid": os.getpid(), "peer": sock.getpeername()[0],\n'
        '           "request": data.hex()},\n'
        '          open(sys.argv[1], "w"))\n'
        'sock.sendall(b"done")\n')
    argv = [sys.executable, str(script), str(record), 'an argument with spaces', '', '--verbatim=\'"$HOME"\'']
    gate = make_gate(incoming=None, output_option=None, argv=argv)
    port = gate.listen()
    rq = associate_rq(CALLED, CALLING)
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(rq)
        assert recv_all(sock) == b'done'
    [proc] = gate.wait()
    assert proc.returncode == 0
    seen = json.loads(record.read_text())
    assert seen['argv'] == argv[1:]
    assert seen['pid'] == proc.pid  # exec'd in place
    assert seen['peer'] == '127.0.0.1'
    assert bytes.fromhex(seen['request']) == rq  # the peek left the whole request to it
    assert gate.association_dirs() == []
    assert not [n for n in os.listdir(str(gate.root)) if n.startswith('.new-')]
    [line] = gate.log_lines()
    assert (line['what'], line['reason'], line['id']) == ('accepted', '-', '-')


def test_setup_failure_is_rejected_transient_and_leaves_nothing(make_gate):
    gate = make_gate()
    shutil.rmtree(str(gate.incoming))
    port = gate.listen()
    assert raw_association(port) == (3, RJ_TRANSIENT)
    gate.wait()
    assert gate.log_lines()[0]['reason'] == 'setup'
    assert 'cannot make' in gate.syslog_messages()[0]['msg']
    assert not gate.incoming.exists()


def test_a_program_that_cannot_be_executed_is_a_setup_failure(make_gate, tmp_path):
    gate = make_gate(argv=[str(tmp_path / 'no-such-storescp'), '--inetd'])
    port = gate.listen()
    assert raw_association(port) == (3, RJ_TRANSIENT)
    gate.wait()
    assert gate.log_lines()[0]['reason'] == 'setup'
    assert gate.association_dirs() == []


@pytest.mark.parametrize('text, complaint', [
    ('mode plain\ncalled 4741544557\nexec /usr/bin/storescp\nbogus line\n', 'unknown line 5'),
    ('mode plain\ncalled 4741544557\n', 'no exec line'),
    ('mode plain\ncalled GATEWAY\nexec /usr/bin/storescp\n', 'bad AE title field in line 3'),
    ('called *\npeer * 4 7f000001 33\nexec /usr/bin/storescp\n', 'bad peer line 3'),
    ('called *\nexec /usr/bin/storescp\nincoming /tmp\n', 'incoming without output-option'),
])
def test_a_broken_configuration_closes_every_connection(make_gate, text, complaint):
    gate = make_gate()
    gate.write_config('syslog %s\n%s' % (gate.syslog_path, text))
    port = gate.listen()
    with socket.create_connection(('127.0.0.1', port)) as sock:
        sock.sendall(associate_rq(CALLED, CALLING))
        assert recv_all(sock) in (b'', b'<RST>')
    [proc] = gate.wait()
    assert proc.returncode == 1
    [message] = gate.syslog_messages()
    assert message['msg'] == 'configuration %s: %s; connection closed' % (gate.conf_path, complaint)
    assert gate.log_lines() == []


def test_without_a_syslog_socket_refusals_are_still_logged(make_gate):
    gate = make_gate(peers=[])
    gate.syslog.close()
    os.unlink(gate.syslog_path)
    port = gate.listen()
    assert raw_association(port) == (3, RJ_SOURCE)
    gate.wait()
    assert gate.log_lines()[0]['reason'] == 'source'


def test_a_syslog_that_does_not_keep_up_never_holds_the_gate(make_gate):
    """Nobody reads the syslog socket here: once its queue is full, messages are dropped."""
    gate = make_gate(peers=[])
    port = gate.listen()
    for _count in range(25):
        assert raw_association(port) == (3, RJ_SOURCE)
    gate.wait(25)
    assert [x['reason'] for x in gate.log_lines()] == ['source'] * 25
    assert 0 < len(gate.syslog_messages()) < 25


def test_fd_0_not_a_socket(make_gate):
    gate = make_gate()
    proc = subprocess.run([PERL, GATE, str(gate.conf_path)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, b'', b'')
    assert [m['msg'] for m in gate.syslog_messages()] == ['fd 0 is not a socket; nothing done']
    assert gate.log_lines() == []


@pytest.mark.parametrize('address', ['::1', '::', '2001:db8::1', '2001:db8:0:0:1:0:0:1', '2001:0:0:1::1',
                                     'fe80::1:2:3:4', '1:2:3:4:5:6:7:8', '1::', '1:0:0:2::3', '0:0:1::'])
def test_ipv6_addresses_are_logged_in_rfc_5952_form(address):
    """The gate's own formatter (its sub v6_text, run alone) against Python's."""
    with open(GATE) as handle:
        sub = re.search(r'^sub v6_text \{.*?^\}$', handle.read(), re.S | re.M).group(0)
    packed = ipaddress.IPv6Address(address).packed
    out = subprocess.run([PERL, '-e', sub + ' print v6_text(pack("H*", $ARGV[0]));', packed.hex()],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    assert out == ipaddress.IPv6Address(address).compressed


def test_the_gate_is_perl_base_only():
    """No module: each costs milliseconds on every association (see the script's header)."""
    with open(GATE) as handle:
        text = handle.read()
    code = [line for line in text.splitlines() if not line.lstrip().startswith('#')]
    assert not [line for line in code if re.match(r'\s*(use|require|do)\s', line)]
    assert not text.startswith('#!')  # started as /usr/bin/perl <gate> <config>
