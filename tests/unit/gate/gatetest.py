"""Harness for the tests of roles/dicom_listener/files/pacsgate-gate: the real Perl gate, started as
xinetd (wait = no) or systemd (Accept=yes) start it, with an accepted TCP connection on fds 0 and 1,
its configuration rendered by plugins/module_utils/gateconf.py, the host's dcmtk and pynetdicom as
senders, and a bound unix datagram socket standing in for /dev/log."""

import fcntl
import re
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from ansible_collections.pacsgate.listener.plugins.module_utils import gateconf

HERE = os.path.dirname(os.path.abspath(__file__))
GATE = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'roles', 'dicom_listener', 'files', 'pacsgate-gate'))
PERL = '/usr/bin/perl'
STORESCP = '/usr/bin/storescp'
ECHOSCU = '/usr/bin/echoscu'
STORESCU = '/usr/bin/storescu'
CALLED = 'GATEWAY'
CALLING = 'PACS'
VERIFICATION = '1.2.840.10008.1.1'
IMPLICIT_LE = '1.2.840.10008.1.2'

# The gate's log line: <ISO 8601 UTC> accepted|refused <reason|-> id=<id|-> peer= calling= called=
LOG_LINE = (r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<what>accepted|refused) (?P<reason>\S+) id=(?P<id>\S+) '
            r'peer=(?P<peer>\S+) calling=(?P<calling>\S+) called=(?P<called>\S+)')
ASSOCIATION_ID = r'\d{8}T\d{6}-(?P<pid>\d+)-[0-9a-f]{8}'
SYSLOG = r'<29>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d pacsgate-gate\[(?P<pid>\d+)\]: (?P<msg>.*)'


def pdu_item(item_type, body):
    return bytes([item_type, 0]) + len(body).to_bytes(2, 'big') + body


def associate_rq(called, calling, abstract=VERIFICATION, transfer=IMPLICIT_LE):
    """An A-ASSOCIATE-RQ PDU with one presentation context, as a byte string. CALLED and CALLING
    are written as given, space-padded to 16 bytes (so leading spaces can be tested)."""
    body = (1).to_bytes(2, 'big') + b'\0\0' + called.encode('ascii').ljust(16) + calling.encode('ascii').ljust(16)
    body += bytes(32)
    body += pdu_item(0x10, b'1.2.840.10008.3.1.1.1')
    body += pdu_item(0x20, b'\x01\0\0\0' + pdu_item(0x30, abstract.encode()) + pdu_item(0x40, transfer.encode()))
    body += pdu_item(0x50, pdu_item(0x51, (16384).to_bytes(4, 'big')) + pdu_item(0x52, b'1.2.826.0.1.3680043.10.1'))
    return bytes([1, 0]) + len(body).to_bytes(4, 'big') + body


RELEASE_RQ = b'\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00'


def recv_all(sock, timeout=15):
    """Everything the peer sends until it closes."""
    sock.settimeout(timeout)
    data = b''
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data + b'<RST>'
        if not chunk:
            return data
        data += chunk


def recv_pdu(sock, timeout=15):
    """One PDU: (type, whole PDU bytes), or (None, what came before the connection closed)."""
    sock.settimeout(timeout)
    data = b''
    while len(data) < 6 or len(data) < 6 + int.from_bytes(data[2:6], 'big'):
        chunk = sock.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    return data[0], data


def lock_is_held(path):
    """True when another open file description holds an flock on PATH."""
    with open(path, 'rb') as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def pynetdicom_echo(port, called, calling, host='127.0.0.1', keep_open=False):
    """Associate with pynetdicom; returns (assoc, the result, source and reason of the
    A-ASSOCIATE-RJ pynetdicom received, if any). With keep_open, an accepted association is left
    open for the caller to release; otherwise a C-ECHO is sent and the association released.

    The RJ's fields are taken from the PDU pynetdicom decoded (EVT_PDU_RECV): pynetdicom 3.0
    closes the connection on an RJ, and when that happens before its requesting thread has
    seen the connection up (the gate answers within milliseconds), that thread reports the
    association aborted rather than rejected, although the RJ was received (about 1 in 150
    under load here)."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import Verification  # pylint: disable=no-name-in-module

    answer = {}

    def on_pdu(event):
        if type(event.pdu).__name__ == 'A_ASSOCIATE_RJ':
            answer.update(result=event.pdu.result, source=event.pdu.source, reason=event.pdu.reason_diagnostic)

    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 15
    assoc = ae.associate(host, port, ae_title=called, evt_handlers=[(evt.EVT_PDU_RECV, on_pdu)])
    if assoc.is_established and not keep_open:
        status = assoc.send_c_echo()
        answer['echo_status'] = status.Status if status else None
        assoc.release()
    return assoc, answer


class Gate:
    """One gate configuration plus the listening sockets that start it per connection."""

    def __init__(self, root, **overrides):
        self.root = root
        root.mkdir()
        self.incoming = root / 'incoming'
        self.incoming.mkdir()
        (root / 'log').mkdir()
        self.log = root / 'log' / 'associations.log'
        self.refuse_flag = root / '.pacsgate-refuse'
        # sun_path holds 108 bytes: pytest's tmp paths can be longer.
        self.sockdir = tempfile.mkdtemp(prefix='pg-', dir='/tmp')
        self.syslog_path = os.path.join(self.sockdir, 'log')
        self.syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.syslog.bind(self.syslog_path)
        self.config = {
            'called': CALLED,
            'peers': [{'aetitle': CALLING, 'source': '127.0.0.1'}],
            'mode': 'plain',
            'refuse_flag': str(self.refuse_flag),
            'incoming': str(self.incoming),
            'log': str(self.log),
            'syslog': self.syslog_path,
            'acse_timeout': 10,
            'argv': [STORESCP, '--inetd', '--aetitle', CALLED, '--acse-timeout', '10', '--dimse-timeout', '20',
                     '--promiscuous', '--bit-preserving', '+xa'],
            'output_option': '--output-directory',
        }
        self.config.update(overrides)
        self.conf_path = root / 'gate.conf'
        self.conf_path.write_text(gateconf.render(self.config))
        self.procs = []
        self.stderr = {}
        self._servers = []
        self._threads = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def write_config(self, text):
        self.conf_path.write_text(text)

    def listen(self, host='127.0.0.1', dual_stack=False, stderr_on_socket=False):
        """Listen on HOST (port chosen by the kernel); every connection starts the gate. Returns the port."""
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        server.bind((host, 0))
        server.listen(16)
        server.settimeout(0.1)
        self._servers.append(server)
        thread = threading.Thread(target=self._serve, args=(server, stderr_on_socket), daemon=True)
        thread.start()
        self._threads.append(thread)
        return server.getsockname()[1]

    def _serve(self, server, stderr_on_socket):
        while not self._stop.is_set():
            try:
                conn = server.accept()[0]
            except socket.timeout:
                continue
            except OSError:
                return
            self.start(conn, stderr_on_socket)

    def start(self, conn, stderr_on_socket=False):
        """Start the gate on the accepted connection CONN, as xinetd does (fd 0, 1; 2 as well
        with STDERR_ON_SOCKET) or systemd (fd 0, 1; fd 2 a pipe the test reads)."""
        stderr = conn.fileno() if stderr_on_socket else subprocess.PIPE
        proc = subprocess.Popen([PERL, GATE, str(self.conf_path)], stdin=conn.fileno(), stdout=conn.fileno(),
                                stderr=stderr, env={'PATH': '/usr/bin:/bin', 'TCP_NODELAY': '1'})
        conn.close()
        with self._lock:
            self.procs.append(proc)
        return proc

    def wait(self, count=1, timeout=30):
        """Wait until COUNT gates have been started and all of them (and what they exec'd) exited;
        checks that none wrote to stderr. Returns the processes."""
        deadline = time.monotonic() + timeout
        while len(self.procs) < count:
            assert time.monotonic() < deadline, 'the gate was not started %d times' % count
            time.sleep(0.01)
        with self._lock:
            procs = list(self.procs)
        for proc in procs:
            proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.stderr is not None and not proc.stderr.closed:
                self.stderr[proc.pid] = proc.stderr.read()
                proc.stderr.close()
        assert all(out == b'' for out in self.stderr.values()), self.stderr
        return procs

    def first_proc(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.procs:
            assert time.monotonic() < deadline, 'the gate was not started'
            time.sleep(0.01)
        return self.procs[0]

    def log_lines(self):
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        for line in lines:
            assert re.fullmatch(LOG_LINE, line), line
        return [re.fullmatch(LOG_LINE, line).groupdict() for line in lines]

    def syslog_messages(self, timeout=0.3):
        """The syslog datagrams received so far (waiting up to TIMEOUT for the first)."""
        messages = []
        self.syslog.settimeout(timeout)
        while True:
            try:
                data = self.syslog.recv(65536).decode()
            except socket.timeout:
                return messages
            match = re.fullmatch(SYSLOG, data)
            assert match, data
            messages.append(match.groupdict())
            self.syslog.settimeout(0.05)

    def association_dirs(self):
        return sorted(os.listdir(str(self.incoming)))

    def close(self):
        self._stop.set()
        for server in self._servers:
            server.close()
        for thread in self._threads:
            thread.join(2)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None and not proc.stderr.closed:
                proc.stderr.close()
        self.syslog.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)


def run(args, timeout=60, **kwargs):
    """Run a dcmtk tool; returns (returncode, combined output)."""
    env = dict(os.environ, TCP_NODELAY='1')
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, env=env,
                          check=False, **kwargs)
    return proc.returncode, proc.stdout.decode(errors='replace')
