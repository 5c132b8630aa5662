"""The Molecule verifiers' shared harness: facts about the gateway under test, a real DICOM study
sent to it from the Docker host with dcmtk's storescu, helpers, and the figures a run measured.

tests/molecule/conftest.py imports its fixtures (gw, sent_study) and its summary hook from here;
test modules import the helpers directly (`from harness import ...`)."""

import collections
import json
import os
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import dicomstudy  # noqa: E402

SENDER_AET = "PACSGATE-TEST"

# The gateway of the default scenario that gets the expensive tests (bad inputs, tags,
# reconfiguration, housekeeping, state absent); the others get the per-host checks only.
FULL_HOST = "pacsgate-default-gw-bookworm"
FULL_HOST_ONLY = ["ansible://" + FULL_HOST]


@pytest.fixture(scope="module")
def gw(host):
    """The role's variables as Ansible sees them for this gateway, plus its Docker address."""
    name = host.backend.get_hostname()
    role_vars = host.ansible.get_variables()
    ip = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
        check=True, capture_output=True, text=True,
    ).stdout.split()[0]
    defaults = {
        "port": 10402, "aetitle": "CHRISLOCAL", "base_dir": "/home/dicom",
        "user": "dicom", "group": "dicom", "service_name": "dicomlistener",
        "venv_dir": "/opt/pypx", "px_listen_link": "/usr/local/bin/px-listen",
    }
    cfg = {k: role_vars.get("dicom_listener_" + k, v) for k, v in defaults.items()}
    for d in ("tmp", "log", "data"):
        cfg[d + "_dir"] = role_vars.get("dicom_listener_%s_dir" % d, "%s/%s" % (cfg["base_dir"], d))
    cfg.update(name=name, ip=ip)
    return cfg


# Debian's dcmtk; the virtualenv's pynetdicom installs Python tools of the same names.
DCMTK_BIN = "/usr/bin"


def dcmtk(*argv, timeout=300):
    """Run a dcmtk tool on the Docker host with Nagle disabled, as a fast PACS would."""
    env = dict(os.environ, TCP_NODELAY="1")
    return subprocess.run([os.path.join(DCMTK_BIN, argv[0])] + list(argv[1:]), capture_output=True, text=True, timeout=timeout, env=env, check=False)


def filed_instances(host, data_dir, study_uid):
    """Map SOPInstanceUID -> path of every .dcm file filed for the study."""
    out = host.run("find %s -path '*%s*' -name '*.dcm'", data_dir, study_uid).stdout.split()
    return {os.path.basename(p)[:-4].split("-", 1)[1]: p for p in out}


@pytest.fixture(scope="module")
def sent_study(host, gw, tmp_path_factory):
    """Generate a 2-series, 120-instance study, send it in one association, wait until filed."""
    out = tmp_path_factory.mktemp("study")
    manifest = dicomstudy.make_study(str(out), series=2, per_series=60)
    expected = sum(len(v) for v in manifest["series"].values())
    t0 = time.monotonic()
    res = dcmtk("storescu", "-aet", SENDER_AET, "-aec", gw["aetitle"], "+sd", gw["ip"], str(gw["port"]), str(out))
    sent_s = time.monotonic() - t0
    filed = {}
    deadline = time.monotonic() + (120 if res.returncode == 0 else 0)
    while time.monotonic() < deadline:
        filed = filed_instances(host, gw["data_dir"], manifest["study_uid"])
        if len(filed) >= expected:
            break
        time.sleep(1)
    manifest.update(storescu=res, sent_seconds=sent_s, filed=filed, expected=expected,
                    filed_seconds=time.monotonic() - t0)
    print(json.dumps({k: manifest[k] for k in ("expected", "sent_seconds", "filed_seconds")}))
    count("studies sent with storescu to %s" % name_of(host), studies=1, instances_sent=expected,
          instances_filed=len(filed))
    return manifest


def run_playbook(playbook, *args, expect_failure=False, limit=None):
    """Run one of the collection's playbooks against the scenario's inventory (with its vars),
    limited to `limit`, by default to FULL_HOST where the inventory has it.

    Returns (stdout and stderr, the PLAY RECAP line of the last host); failed tasks are reported
    on stderr under Molecule's ansible.cfg (display_failed_stderr)."""
    inventory_file = os.environ["MOLECULE_INVENTORY_FILE"]
    inventory = os.path.dirname(inventory_file)
    if limit is None:
        with open(inventory_file) as f:
            limit = FULL_HOST if FULL_HOST in f.read() else "all"
    res = subprocess.run(
        ["ansible-playbook", "-i", inventory, "--limit", limit, playbook, *args],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert (res.returncode != 0) == expect_failure, res.stdout[-3000:] + res.stderr[-3000:]
    recap = [line for line in res.stdout.splitlines() if "changed=" in line and "ok=" in line]
    return res.stdout + res.stderr, recap[-1]


def journal_with(host, identifier, *needles, seconds=30):
    """The journal lines of a syslog identifier once every needle is in them, or after `seconds`.

    By identifier, not by unit: xinetd logs a refused client from a child that exits at once, and
    journald, which finds a sender's unit through its pid, then often cannot attribute the line to
    xinetd.service. journald can also take a moment to store a line."""
    deadline = time.monotonic() + seconds
    while True:
        log = host.run("journalctl -t %s --no-pager", identifier).stdout
        if all(n in log for n in needles) or time.monotonic() > deadline:
            return log
        time.sleep(0.5)


def xinetd_args(host):
    """The running xinetd's command line, as words: the oldest process named xinetd (the daemon;
    the children it forks for a connection carry its name only until they exec the server)."""
    return host.run("ps -o args= -p \"$(pgrep -o -x xinetd)\"").stdout.split()


def snapshot(host, *paths):
    """A digest of names, sizes, modification times, modes and owners under paths on the gateway."""
    cmd = "find %s -printf '%%p %%s %%T@ %%m %%u %%g\\n' 2>/dev/null | sort | sha256sum" % " ".join(paths)
    return host.run(cmd).stdout.split()[0]


def owners(host, *paths):
    """Owner, group and mode of each path itself (for dirs whose contents the running listener
    changes)."""
    return host.run("stat -c '%%n %%U %%G %%a' %s", " ".join(paths)).stdout


# What the tests measured, printed at the end of the run whether they passed or not: the
# figures behind the closing notes (bad inputs refused, instances sent and filed, associations).
FIGURES = collections.OrderedDict()


def count(table, **fields):
    """Add to the named table's counts, e.g. count("bad inputs", tried=1, refused=1)."""
    counter = FIGURES.setdefault(table, collections.Counter())
    for field, value in fields.items():
        counter[field] += value


def name_of(host):
    return host.backend.get_hostname()


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures")
        for table, counter in FIGURES.items():
            terminalreporter.write_line("%s: %s" % (table, ", ".join("%s %d" % kv for kv in counter.items())))


# --- Sending with accounting: what the gateway acknowledged, and what it filed byte for byte ---

SUCCESS = 0x0000


def dataset_digest(data):
    """sha256 of a DICOM file's data set, the bytes after the file meta information: what a sender
    transmits and what the gateway must keep byte for byte (storescp --bit-preserving writes them as
    received, behind a file meta group of its own)."""
    import hashlib
    import struct
    if data[128:132] != b"DICM":
        raise ValueError("not a DICOM file (no DICM prefix)")
    # (0002,0000) FileMetaInformationGroupLength, explicit VR little endian: tag, "UL", length 4, value.
    if data[132:138] != b"\x02\x00\x00\x00UL":
        raise ValueError("the file meta group does not start with its group length")
    (group_length,) = struct.unpack("<I", data[140:144])
    return hashlib.sha256(data[144 + group_length:]).hexdigest()


# The same function, run on a gateway over every file it filed for a study: prints "uid digest".
_GATEWAY_DIGESTS = r"""
import hashlib, os, struct, sys
data_dir, study = sys.argv[1], sys.argv[2]
for root, dirs, files in os.walk(data_dir):
    if study not in root:
        continue
    for name in files:
        if not name.endswith('.dcm'):
            continue
        with open(os.path.join(root, name), 'rb') as handle:
            data = handle.read()
        (length,) = struct.unpack('<I', data[140:144])
        print(name[:-4].split('-', 1)[1], hashlib.sha256(data[144 + length:]).hexdigest())
"""


def filed_digests(host, data_dir, study_uid):
    """{SOPInstanceUID: data set digest} of every instance filed for the study on the gateway."""
    out = host.run("python3 -c %s %s %s", _GATEWAY_DIGESTS, data_dir, study_uid)
    assert out.rc == 0, out.stderr
    return dict(line.split() for line in out.stdout.splitlines() if line.strip())


def filing_records(host, tmp_dir):
    """The filer's completion records of the associations kept in the tmp dir's filed/ (a list)."""
    out = host.run("python3 -c %s %s", "import glob, json, sys; print(json.dumps([json.load(open(p)) "
                   "for p in sorted(glob.glob(sys.argv[1] + '/filed/*/.pacsgate-record.json'))]))", tmp_dir)
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


# Run on a gateway: prints {received file name: reason} of every quarantined instance as JSON (the
# reason files are indented JSON, several lines each).
_GATEWAY_QUARANTINE = r"""
import json, os, sys
top, found = os.path.join(sys.argv[1], 'quarantine'), {}
for association in sorted(os.listdir(top)) if os.path.isdir(top) else []:
    for name in sorted(os.listdir(os.path.join(top, association))):
        if name.endswith('.reason.json'):
            try:
                with open(os.path.join(top, association, name)) as handle:
                    found[name[:-len('.reason.json')]] = json.load(handle).get('reason')
            except (OSError, ValueError):
                found[name[:-len('.reason.json')]] = None
print(json.dumps(found))
"""


def quarantined(host, tmp_dir):
    """{received file name: reason} of every quarantined instance on the gateway."""
    out = host.run("python3 -c %s %s", _GATEWAY_QUARANTINE, tmp_dir)
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


class Sender(threading.Thread):
    """One association from the Docker host (pynetdicom) sending files one after another, each as
    the bytes of its data set in the file, `gap` seconds apart, and recording what the gateway
    acknowledged. Sends until the files run out, or until `stop` is set and `at_least` were sent;
    an association the gateway ends midway ends the sending (the rest is not acknowledged)."""

    def __init__(self, gw, paths, gap=0.05, at_least=0, calling=SENDER_AET, called=None, port=None,
                 contexts=None, tls=None):
        """`contexts`: (SOP class UID, transfer syntax UID) pairs to propose; by default those of
        the files."""
        super().__init__(daemon=True)
        self.gw, self.paths, self.gap, self.at_least = gw, list(paths), gap, at_least
        self.calling, self.called = calling, called or gw["aetitle"]
        self.port = port or gw["port"]
        self.contexts, self.tls = contexts, tls
        self.stop = threading.Event()
        self.started_sending = threading.Event()
        self.associated = False
        self.acknowledged, self.refused, self.sent = [], [], []
        self.aborted = False
        self.error = None

    def run(self):
        from pydicom import dcmread
        from pynetdicom import AE, _config
        # Send each file's data set as the bytes it holds, not decoded and encoded again.
        _config.STORE_SEND_CHUNKED_DATASET = True
        try:
            ae = AE(ae_title=self.calling)
            ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
            # As an archive does: each SOP class with the transfer syntax its files are in.
            contexts = self.contexts or sorted({
                (str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
                for meta in (dcmread(path, stop_before_pixels=True).file_meta for path in self.paths)})
            for sop_class, syntax in contexts:
                ae.add_requested_context(sop_class, [syntax])
            assoc = ae.associate(self.gw["ip"], self.port, ae_title=self.called, tls_args=self.tls)
            self.associated = assoc.is_established
            if not self.associated:
                return
            _keep_responses(assoc)
            for path in self.paths:
                uid = dcmread(path, stop_before_pixels=True).SOPInstanceUID
                self.started_sending.set()
                status = assoc.send_c_store(path)
                self.sent.append(uid)
                if getattr(status, "Status", None) == SUCCESS:
                    self.acknowledged.append(uid)
                else:
                    self.refused.append(uid)
                if not assoc.is_established:
                    self.aborted = True
                    return
                if self.stop.wait(self.gap) and len(self.sent) >= self.at_least:
                    break
            assoc.release()
        except Exception as exc:  # pylint: disable=broad-except
            self.error = repr(exc)


def _keep_responses(assoc):
    """Work around a race in pynetdicom 3.0: its association thread can take a C-STORE response off
    the DIMSE queue before send_c_store() waits for it (a peer that answers within microseconds,
    such as storescp with TCP_NODELAY, sent without a gap), log "Received unexpected C-STORE service
    message", drop it, and leave the sender waiting for the DIMSE timeout (pydicom/pynetdicom#875).
    A response taken that way goes back on the queue, where send_c_store() finds it."""
    serve = assoc._serve_request  # pylint: disable=protected-access

    def serve_or_requeue(msg, context_id):
        if msg.is_valid_response:
            assoc.dimse.msg_queue.put((context_id, msg))
            return
        serve(msg, context_id)

    assoc._serve_request = serve_or_requeue  # pylint: disable=protected-access


def account(host, gw, study_uid, sender, sources, timeout=180, filed=None):
    """Wait until every acknowledged instance is filed or quarantined, then return the figures of a
    zero-loss test: acknowledged, filed byte-identical to what was sent, quarantined with a reason,
    and what is neither (lost). `sources` maps SOPInstanceUID to the digest of the data set sent.
    `filed()` gives {SOPInstanceUID: digests of its filed copies}; by default the one copy of each
    instance of the study in the data dir."""
    if filed is None:
        def filed():
            return {uid: {digest} for uid, digest in filed_digests(host, gw["data_dir"], study_uid).items()}
    acked = set(sender.acknowledged)
    deadline = time.monotonic() + timeout
    while True:
        copies = filed()
        held = quarantined(host, gw["tmp_dir"])
        held_uids = {name.split(".", 1)[1] for name in held if "." in name}
        identical = {uid for uid in acked if sources[uid] in copies.get(uid, ())}
        lost = acked - identical - held_uids
        if not lost or time.monotonic() > deadline:
            break
        time.sleep(1)
    return {
        "acknowledged": len(acked),
        "filed byte-identical": len(identical),
        "quarantined with a reason": len(acked & held_uids),
        "lost": len(lost),
        "filed but different": len({uid for uid in acked - identical if copies.get(uid)}),
        "reasons": sorted({held[name] for name in held}),
    }


# --- Chaos: zero-loss figures, the filer's journal, a transfer across a restart -------------------

FILER_UNIT = "pacsgate-filer-%s"


def count_zero_loss(table, figures, not_acknowledged=0, **extra):
    """Print the figures of a zero-loss case (from account()) as one line of the run's figures;
    `not_acknowledged`: instances sent or being sent that the gateway never acknowledged (they are
    no part of the promise and never counted as lost)."""
    fields = {k: v for k, v in figures.items() if k != "reasons"}
    fields["not acknowledged"] = not_acknowledged
    fields.update(extra)
    count(table, **fields)


def assert_zero_loss(figures):
    """Acknowledged = filed byte-identical + quarantined with a reason, nothing lost or different."""
    assert figures["lost"] == 0, figures
    assert figures["filed but different"] == 0, figures
    assert figures["acknowledged"] == figures["filed byte-identical"] + figures["quarantined with a reason"], figures


def sources_of(paths):
    """{SOPInstanceUID: data set digest} of the files a sender sends."""
    from pydicom import dcmread
    found = {}
    for path in paths:
        with open(path, "rb") as handle:
            data = handle.read()
        found[str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)] = dataset_digest(data)
    return found


def patient_data_in_journal(host, unit, needles):
    """Those of `needles` (patient names and IDs, as sent and as pypx spells them in paths) that
    appear in a unit's journal: none may."""
    log = host.run("journalctl -u %s --no-pager -o cat", unit).stdout
    return sorted({needle for needle in needles if needle and needle in log})


def pypx_spelling(value):
    """A value as pypx.utils.sanitize puts it into a directory name."""
    value = str(value).strip()
    return "".join(c if c.isalnum() else "." for c in value) or "no value provided"


def wait_until(predicate, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def transfer_across(gw, tmp_path, action, instances=1000, gap=0.05, after=2.0):
    """A paced transfer (one association, an instance every `gap` seconds) during which `action()`
    runs: the sender sends until the action returned and `after` more seconds passed (or its
    `instances` files run out). Returns (the sender, the study's manifest, its sources, what the
    action returned); sender.survived_action says whether the association was still open when the
    action was over, sender.acknowledged_during_action how many instances it got acknowledged
    meanwhile."""
    manifest = dicomstudy.make_study(str(tmp_path), series=1, per_series=instances)
    paths = sorted(str(tmp_path / name) for name in os.listdir(str(tmp_path)))
    sources = sources_of(paths)
    sender = Sender(gw, paths, gap=gap, at_least=0)
    sender.start()
    try:
        assert sender.started_sending.wait(60), sender.error
        wait_until(lambda: len(sender.acknowledged) >= 10 or not sender.is_alive(), 60)
        assert sender.is_alive(), ("the transfer ended before the action; nothing was tested", sender.error)
        acknowledged_before = len(sender.acknowledged)
        result = action()
        # Whether the association was still open when the action was over (the caller asserts it,
        # after counting what was filed).
        sender.survived_action = sender.is_alive()
        sender.acknowledged_during_action = len(sender.acknowledged) - acknowledged_before
        time.sleep(after)
    finally:
        sender.stop.set()
        sender.join(180)
    return sender, manifest, sources, result
