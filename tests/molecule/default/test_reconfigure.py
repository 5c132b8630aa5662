"""No study is lost when a converge rewrites the service file while a transfer is in flight.

A paced sender (one association, an instance every 0.05 s) runs while the role changes the port,
then xinetd's limits; xinetd is restarted in the middle of the transfer. The sender sends at least
200 instances and keeps sending until the converge is over (up to 600, so that a slow converge on a
busy machine still restarts xinetd mid-transfer), then releases the association. Every instance
acknowledged must be filed byte for byte, and the new configuration must serve the next association.
The port change runs on the Debian 11, 12 and 13 gateways (their xinetd units differ: Debian 13's
own unit would kill the association with xinetd but for the role's KillMode=process drop-in)."""

import os
import time

import pytest
from pydicom import dcmread

import dicomstudy
from harness import FULL_HOST, SENDER_AET, Sender, account, count, dataset_digest, dcmtk, name_of, run_playbook

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")

INSTANCES = 600
AT_LEAST = 200
GAP = 0.05


def digests(paths):
    found = {}
    for path in paths:
        with open(path, "rb") as handle:
            found[str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)] = dataset_digest(handle.read())
    return found


@pytest.mark.parametrize("change", [
    {"dicom_listener_port": 10412},
    {"dicom_listener_instances": 120, "dicom_listener_per_source": 120},
], ids=["port", "limits"])
def test_transfer_survives_a_reconfiguration(host, gw, tmp_path, change):
    # The port change (a new service file, xinetd restarted by the handler) on every release, whose
    # xinetd units differ; the limits change on the Debian 12 gateway only.
    if "dicom_listener_port" not in change and name_of(host) != FULL_HOST:
        pytest.skip("the limits change runs on %s only" % FULL_HOST)
    manifest = dicomstudy.make_study(str(tmp_path), series=1, per_series=INSTANCES)
    paths = sorted(str(tmp_path / name) for name in os.listdir(str(tmp_path)))
    pid_before = host.run("pidof xinetd").stdout.strip()
    sender = Sender(gw, paths, gap=GAP, at_least=AT_LEAST)
    sender.start()
    try:
        assert sender.started_sending.wait(60), sender.error
        time.sleep(3)
        extra = " ".join("%s=%s" % item for item in change.items())
        _out, recap = run_playbook("pacsgate.listener.site", "--tags", "file_install", "-e", extra,
                                   limit=name_of(host))
        assert "changed=0" not in recap, recap
        assert sender.is_alive(), "the transfer ended before xinetd was restarted; nothing was tested"
        assert host.run("pidof xinetd").stdout.strip() != pid_before
        time.sleep(2)  # a few more instances after the restart, then the sender releases
        sender.stop.set()
        sender.join(180)
        assert sender.associated and not sender.error and not sender.aborted, (sender.error, sender.aborted)
        assert len(sender.acknowledged) >= AT_LEAST and not sender.refused
        figures = account(host, gw, manifest["study_uid"], sender, digests(paths))
        count("transfer during a converge that changes %s on %s" % ("/".join(change), name_of(host)),
              **{k: v for k, v in figures.items() if k != "reasons"})
        assert figures["filed byte-identical"] == figures["acknowledged"] == len(sender.sent), figures
        port = change.get("dicom_listener_port", gw["port"])
        res = dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(port), timeout=60)
        assert res.returncode == 0, res.stderr
    finally:
        sender.stop.set()
        sender.join(120)
        run_playbook("pacsgate.listener.site", "--tags", "file_install", limit=name_of(host))
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
