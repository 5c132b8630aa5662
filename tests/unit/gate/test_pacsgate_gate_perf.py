"""What the gate costs per association, measured against the same run's references (this machine is
shared and throttled: only figures from one run compare). Printed, not asserted: the gate's time to
exec (a gate exec'ing /bin/true, less /bin/true started directly), a whole C-ECHO-less association
(A-ASSOCIATE, A-RELEASE) served by storescp --inetd directly and through the gate, and the gate's
memory while it waits for the A-ASSOCIATE-RQ."""

import socket
import statistics
import subprocess
import time

from gatetest import CALLED, CALLING, GATE, PERL, RELEASE_RQ, STORESCP, associate_rq, recv_pdu

RUNS = 50
ENV = {'PATH': '/usr/bin:/bin', 'TCP_NODELAY': '1'}
STORESCP_ARGV = [STORESCP, '--inetd', '--aetitle', CALLED, '--acse-timeout', '10', '--dimse-timeout', '20',
                 '--promiscuous', '--bit-preserving', '+xa']


class Connections:
    """Connected pairs on loopback: the client end and the accepted end."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(('127.0.0.1', 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]

    def pair(self):
        client = socket.create_connection(('127.0.0.1', self.port))
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        accepted = self.server.accept()[0]
        return client, accepted

    def close(self):
        self.server.close()


def timed(connections, argv, association):
    """Seconds from starting ARGV on a connection whose A-ASSOCIATE-RQ is already there to its exit."""
    client, accepted = connections.pair()
    client.sendall(associate_rq(CALLED, CALLING))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=accepted.fileno(), stdout=accepted.fileno(), env=ENV)
    accepted.close()
    if association:
        pdu_type = recv_pdu(client)[0]
        assert pdu_type == 2, 'no A-ASSOCIATE-AC'
        client.sendall(RELEASE_RQ)
        assert recv_pdu(client)[0] == 6, 'no A-RELEASE-RP'
    client.close()  # the requestor closes after the A-RELEASE-RP
    # no timeout: wait(timeout) polls with growing sleeps, which would blur the figures; the
    # gate's and storescp's ACSE/DIMSE timeouts bound the wait
    assert proc.wait() == 0
    return time.perf_counter() - started


def status_kb(pid, field):
    with open('/proc/%d/status' % pid) as handle:
        for line in handle:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise AssertionError('no %s for %d' % (field, pid))


def median_ms(values):
    return statistics.median(values) * 1000


def test_gate_cost_against_storescp(make_gate, capsys):
    filer = make_gate(argv=['/bin/true'])
    px_listen = make_gate(argv=['/bin/true'], incoming=None, output_option=None)
    through_gate = make_gate(argv=STORESCP_ARGV)
    connections = Connections()
    kinds = {
        'true': (['/bin/true'], False),
        'gate_px': ([PERL, GATE, str(px_listen.conf_path)], False),
        'gate_filer': ([PERL, GATE, str(filer.conf_path)], False),
        'storescp': (STORESCP_ARGV + ['--output-directory', str(through_gate.root)], True),
        'gate_storescp': ([PERL, GATE, str(through_gate.conf_path)], True),
    }
    times = {kind: [] for kind in kinds}
    try:
        while len(times['true']) < RUNS:  # interleaved, so that the machine's load falls on all alike
            for kind, (argv, association) in kinds.items():
                times[kind].append(timed(connections, argv, association))

        # memory while waiting for the request: the script compiled and the configuration read
        client, accepted = connections.pair()
        with client:
            proc = subprocess.Popen([PERL, GATE, str(filer.conf_path)], stdin=accepted.fileno(), stdout=accepted.fileno(),
                                    env=ENV)
            accepted.close()
            deadline = time.monotonic() + 10
            while True:
                with open('/proc/%d/wchan' % proc.pid) as handle:
                    waiting = handle.read() not in ('', '0')
                with open('/proc/%d/stat' % proc.pid) as handle:
                    state = handle.read().rsplit(')', 1)[1].split()[0]
                if waiting and state == 'S' and status_kb(proc.pid, 'VmRSS') > 0:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.1)
            gate_rss, gate_hwm = status_kb(proc.pid, 'VmRSS'), status_kb(proc.pid, 'VmHWM')
        proc.wait(15)
    finally:
        connections.close()

    assert len(filer.association_dirs()) == RUNS
    assert filer.log_lines()[-1]['reason'] == 'protocol'  # the memory probe, closed unsent
    assert len(through_gate.association_dirs()) == RUNS
    assert [x['what'] for x in through_gate.log_lines()] == ['accepted'] * RUNS
    assert gate_rss > 0

    ms = {kind: median_ms(values) for kind, values in times.items()}
    gate_px = ms['gate_px'] - ms['true']
    gate_filer = ms['gate_filer'] - ms['true']
    with capsys.disabled():
        print('\n  pacsgate-gate, medians of %d runs (ms):' % RUNS)
        print('    /bin/true started directly (the harness\'s own cost): %.2f' % ms['true'])
        print('    gate start-up to exec, px-listen mode (no dir):         %.2f' % gate_px)
        print('    gate start-up to exec, filer mode (dir, .association, lock): %.2f' % gate_filer)
        print('    association (A-ASSOCIATE, A-RELEASE), storescp --inetd directly: %.2f' % ms['storescp'])
        print('    the same through the gate:                               %.2f' % ms['gate_storescp'])
        print('    ratio gate start-up (filer) / storescp association:      %.2f' % (gate_filer / ms['storescp']))
        print('    ratio through the gate / storescp directly:              %.2f' % (ms['gate_storescp'] / ms['storescp']))
        print('    gate RSS waiting for the request: %d kB (high-water mark %d kB)' % (gate_rss, gate_hwm))
