"""No study is lost when a converge rewrites the service file while a transfer is in flight.

A paced sender (pynetdicom, one association, an instance every 0.1 s) runs while the role changes
the port, then the server arguments; xinetd is restarted in the middle of the transfer. The sender
sends at least 200 instances and keeps sending until the converge is over (up to 600, so that a
slow converge on a busy machine still restarts xinetd mid-transfer), then releases the
association. Every instance sent must be filed, and the new configuration must serve the next
association."""

import os
import threading
import time

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

import dicomstudy
from harness import FULL_HOST_ONLY, SENDER_AET, count, dcmtk, filed_instances, run_playbook

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

INSTANCES = 600
AT_LEAST = 200
GAP = 0.1


def paced_send(ip, port, aetitle, paths, result, stop):
    """Send one instance every GAP seconds in one association until `stop` is set and at least
    AT_LEAST were sent."""
    ae = AE(ae_title=SENDER_AET)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate(ip, port, ae_title=aetitle)
    result["associated"] = assoc.is_established
    statuses, sent = [], []
    if assoc.is_established:
        for path in paths:
            ds = dcmread(path)
            status = assoc.send_c_store(ds)
            statuses.append(getattr(status, "Status", None))
            sent.append(ds.SOPInstanceUID)
            if stop.wait(GAP) and len(sent) >= AT_LEAST:
                break
        assoc.release()
    result["statuses"], result["sent"] = statuses, sent


@pytest.mark.parametrize("change", [
    {"dicom_listener_port": 10412},
    {"dicom_listener_storescp_wrapper": "/usr/local/libexec/pacsgate/dicomlistener-storescp-b"},
], ids=["port", "server_args"])
def test_transfer_survives_a_reconfiguration(host, gw, tmp_path, change):
    manifest = dicomstudy.make_study(str(tmp_path), series=1, per_series=INSTANCES)
    paths = sorted(str(tmp_path / name) for name in os.listdir(str(tmp_path)))
    pid_before = host.run("pidof xinetd").stdout.strip()
    result, stop = {}, threading.Event()
    sender = threading.Thread(target=paced_send, args=(gw["ip"], gw["port"], gw["aetitle"], paths, result, stop))
    sender.start()
    try:
        time.sleep(3)
        extra = " ".join("%s=%s" % item for item in change.items())
        _out, recap = run_playbook("pacsgate.listener.site", "--tags", "file_install", "-e", extra)
        assert "changed=0" not in recap, recap
        assert sender.is_alive(), "the transfer ended before xinetd was restarted; nothing was tested"
        assert host.run("pidof xinetd").stdout.strip() != pid_before
        time.sleep(2)  # a few more instances after the restart, then the sender releases
        stop.set()
        sender.join(180)
        sent = result["sent"]
        assert result["associated"] and len(sent) >= AT_LEAST and result["statuses"] == [0] * len(sent), result
        filed = {}
        for _attempt in range(60):
            filed = filed_instances(host, gw["data_dir"], manifest["study_uid"])
            if len(filed) >= len(sent):
                break
            time.sleep(1)
        count("transfer during a converge that changes %s" % "/".join(change), sent=len(sent),
              filed=len(set(filed) & set(sent)))
        assert set(filed) == set(sent)
        port = change.get("dicom_listener_port", gw["port"])
        res = dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(port), timeout=60)
        assert res.returncode == 0, res.stderr
    finally:
        stop.set()
        sender.join(120)
        run_playbook("pacsgate.listener.site", "--tags", "file_install")
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
