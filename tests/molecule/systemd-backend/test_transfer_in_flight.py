"""No study is lost when a converge changes the systemd units while a transfer is in flight.

A sender (pynetdicom, one association) sends half of a 100-instance series, keeps the association
busy with C-ECHOs while the role rewrites the per-association service (daemon-reload only) or the
socket (a new port: daemon-reload and a restart of the socket), then sends the other half on the
same association. The association runs in a unit of its own, which must survive; every instance
must be filed, and the new configuration must serve the next association. The sender waits for
the converge however long it takes, so a busy machine cannot make the test pass or fail."""

import json
import os
import threading
import time

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

import dicomstudy
from harness import SENDER_AET, count, dcmtk, filed_instances, run_playbook

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

INSTANCES = 100
GAP = 0.05
RELOAD = "RUNNING HANDLER [pacsgate.listener.dicom_listener : Reload systemd's units]"
RESTART = "RUNNING HANDLER [pacsgate.listener.dicom_listener : Restart the listener socket]"


def send_around(ip, port, aetitle, paths, converged, result):
    """Send half the paths, C-ECHO once a second until `converged` is set, send the rest."""
    ae = AE(ae_title=SENDER_AET)
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(Verification)
    assoc = ae.associate(ip, port, ae_title=aetitle)
    result.update(associated=assoc.is_established, statuses=[], echoes=[])
    if not assoc.is_established:
        return
    half = len(paths) // 2
    for number, path in enumerate(paths):
        if number == half:
            result["halfway"] = True
            deadline = time.monotonic() + 900
            while not converged.is_set() and time.monotonic() < deadline:
                result["echoes"].append(getattr(assoc.send_c_echo(), "Status", None))
                time.sleep(1)
        result["statuses"].append(getattr(assoc.send_c_store(dcmread(path)), "Status", None))
        time.sleep(GAP)
    assoc.release()


def running_associations(host):
    out = host.run("systemctl list-units 'dicomlistener@*' --state=running --plain --no-legend").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("change,handlers", [
    ({"dicom_listener_tcp_nodelay": False}, [RELOAD]),
    ({"dicom_listener_port": 10412}, [RELOAD, RESTART]),
], ids=["service", "socket"])
def test_transfer_survives_a_converge_that_changes_the_units(host, gw, tmp_path, change, handlers):
    manifest = dicomstudy.make_study(str(tmp_path), series=1, per_series=INSTANCES)
    paths = sorted(str(tmp_path / name) for name in os.listdir(str(tmp_path)))
    result, converged = {}, threading.Event()
    sender = threading.Thread(target=send_around,
                              args=(gw["ip"], gw["port"], gw["aetitle"], paths, converged, result))
    sender.start()
    try:
        for _wait in range(240):
            if result.get("halfway") or not sender.is_alive():
                break
            time.sleep(0.5)
        assert result.get("halfway"), result
        before = running_associations(host)
        assert len(before) == 1, before
        out, recap = run_playbook("pacsgate.listener.site", "--tags", "file_install", "-e", json.dumps(change))
        assert "changed=0" not in recap, recap
        for handler in handlers:
            assert handler in out
        if RESTART not in handlers:
            assert RESTART not in out
        assert sender.is_alive() and before <= running_associations(host)
        converged.set()
        sender.join(180)
        # The second half went over the same association, after the units changed.
        assert result["associated"] and result["statuses"] == [0] * INSTANCES, result
        assert result["echoes"] and set(result["echoes"]) == {0}, result
        filed = {}
        for _attempt in range(60):
            filed = filed_instances(host, gw["data_dir"], manifest["study_uid"])
            if len(filed) >= INSTANCES:
                break
            time.sleep(1)
        count("transfer during a converge of the systemd backend that changes %s" % "/".join(change),
              sent=result["statuses"].count(0), filed=len(filed))
        assert len(filed) == INSTANCES
        port = change.get("dicom_listener_port", gw["port"])
        res = dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(port), timeout=60)
        assert res.returncode == 0, res.stderr
    finally:
        converged.set()
        sender.join(180)
        run_playbook("pacsgate.listener.site", "--tags", "file_install")
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening


def test_stopping_an_association_unit_waits_for_its_transfer(host, gw, tmp_path):
    """A stop of the association's own unit (shutdown, or by hand) lets storescp finish receiving
    before anything is killed: ExecStop= waits for it, KillMode=mixed ends the rest; the filer files
    it as any other."""
    manifest = dicomstudy.make_study(str(tmp_path), series=1, per_series=INSTANCES)
    paths = sorted(str(tmp_path / name) for name in os.listdir(str(tmp_path)))
    result, go_on, stop = {}, threading.Event(), {}
    sender = threading.Thread(target=send_around,
                              args=(gw["ip"], gw["port"], gw["aetitle"], paths, go_on, result))
    sender.start()
    try:
        for _wait in range(240):
            if result.get("halfway") or not sender.is_alive():
                break
            time.sleep(0.5)
        assert result.get("halfway"), result
        (unit,) = running_associations(host)
        stopper = threading.Thread(target=lambda: stop.update(rc=host.run("systemctl stop '%s'" % unit).rc))
        stopper.start()
        state = None
        for _wait in range(120):
            state = host.run("systemctl show '%s' -p ActiveState" % unit).stdout.strip()
            if state != "ActiveState=active":
                break
            time.sleep(0.5)
        assert state == "ActiveState=deactivating"
        assert stopper.is_alive()
        go_on.set()
        sender.join(180)
        stopper.join(180)
        assert stop.get("rc") == 0, stop
        assert result["associated"] and result["statuses"] == [0] * INSTANCES, result
        filed = filed_instances(host, gw["data_dir"], manifest["study_uid"])
        assert len(filed) == INSTANCES
    finally:
        go_on.set()
        sender.join(180)
