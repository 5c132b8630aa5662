"""Verifier of the systemd-backend scenario: socket activation instead of xinetd, with the same
listener, user, paths, access list, limits and verify step."""

import os

import pytest

from harness import SENDER_AET, count, dcmtk

SOCKET = "/etc/systemd/system/dicomlistener.socket"
SERVICE = "/etc/systemd/system/dicomlistener@.service"
GATE = "/usr/bin/perl /usr/local/libexec/pacsgate/pacsgate-gate /etc/pacsgate/dicomlistener.gate"


def test_xinetd_is_not_installed(host, gw):
    assert not host.package("xinetd").is_installed
    assert not host.file("/usr/sbin/xinetd").exists
    assert not host.file("/etc/xinetd.d/%s" % gw["service_name"]).exists


@pytest.mark.parametrize("path", [SOCKET, SERVICE, "/etc/systemd/system/dicomlistener-resume.service"])
def test_units_are_root_owned_and_valid(host, path):
    unit = host.file(path)
    assert (unit.user, unit.group, unit.mode) == ("root", "root", 0o644)
    assert unit.content_string.startswith("# Managed by Ansible")
    res = host.run("systemd-analyze verify --man=no %s", path)
    assert res.rc == 0 and path not in res.stdout + res.stderr, res.stdout + res.stderr


def test_socket_unit(host, gw):
    lines = host.file(SOCKET).content_string.splitlines()
    for expected in ("ListenStream=0.0.0.0:%d" % gw["port"], "Accept=yes", "MaxConnections=128",
                     "MaxConnectionsPerSource=128", "TriggerLimitIntervalSec=1s", "TriggerLimitBurst=200",
                     "IPAddressAllow=127.0.0.1 %s" % os.environ["PACSGATE_DOCKER_HOST_IP"], "IPAddressDeny=any",
                     "OnFailure=dicomlistener-resume.service", "WantedBy=sockets.target"):
        assert expected in lines


def test_service_unit_runs_the_gate_as_the_listener_user_in_a_sandbox(host, gw):
    lines = host.file(SERVICE).content_string.splitlines()
    # The same command as the xinetd service's: the gate, with its rules.
    for expected in ("User=%s" % gw["user"], "Group=%s" % gw["group"], "ExecStart=" + GATE, "StandardInput=socket",
                     "StandardOutput=socket", "Environment=TCP_NODELAY=1", "KillMode=mixed",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "CapabilityBoundingSet=",
                     "ReadWritePaths=%s %s %s" % (gw["tmp_dir"], gw["log_dir"], gw["data_dir"])):
        assert expected in lines, expected


# systemd-analyze security rates a unit's exposure from 0 (locked down) to 10; 'OK' is below 4.
# The per-association unit must stay well within it, and so must the filer and housekeeping.
@pytest.mark.parametrize("unit", ["dicomlistener@1.service", "pacsgate-filer-dicomlistener.service",
                                  "pacsgate-housekeeping-dicomlistener.service"])
def test_units_are_sandboxed(host, unit):
    out = host.run("systemd-analyze security --no-pager %s", unit).stdout
    exposure = float(out.strip().splitlines()[-1].split("exposure level for %s: " % unit)[1].split()[0])
    count("systemd-analyze security exposure", **{unit: exposure})
    assert exposure <= 2.5, out


def test_socket_enabled_and_listening(host, gw):
    assert host.run("systemctl is-enabled dicomlistener.socket").stdout.strip() == "enabled"
    assert host.run("systemctl show dicomlistener.socket -p SubState").stdout.strip() == "SubState=listening"
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening
    # The listening socket belongs to systemd (PID 1), not to any xinetd.
    assert "pid=1," in host.run("ss -Hltnp 'sport = :%d'" % gw["port"]).stdout


def test_study_is_filed(host, gw, sent_study):
    assert sent_study["storescu"].returncode == 0, sent_study["storescu"].stderr
    assert len(sent_study["filed"]) == sent_study["expected"]
    assert set(sent_study["filed"]) == {uid for uids in sent_study["series"].values() for uid in uids}
    for series_uid in sent_study["series"]:
        infos = host.run("find %s -path '*%s*' -name series.info", gw["data_dir"], series_uid).stdout.split()
        assert len(infos) == 1
    owners = host.run("find %s -path '*%s*' -name '*.dcm' -printf '%%u\\n' | sort -u", gw["data_dir"],
                      sent_study["study_uid"]).stdout.split()
    assert owners == [gw["user"]]


def test_each_association_ran_in_its_own_unit(host, sent_study):
    assert sent_study["filed"]
    journal = host.run("journalctl --no-pager -o cat -u 'dicomlistener@*'").stdout
    assert "Started dicomlistener@" in journal
    accepted = host.run("systemctl show dicomlistener.socket -p NAccepted").stdout.strip().split("=")[1]
    assert int(accepted) >= 1


def test_a_source_outside_the_access_list_is_refused(host, gw):
    # From the gateway itself to its own Docker address, the connection comes from that address,
    # which is neither loopback nor the declared PACS: IPAddressDeny=any drops it.
    refused = host.run("echoscu -to 5 -ta 5 -aec %s %s %s", gw["aetitle"], gw["ip"], str(gw["port"]))
    assert refused.rc != 0
    assert "Association Request Failed" in refused.stdout + refused.stderr
    # The same listener answers loopback and the declared PACS (the Docker host).
    assert host.run("echoscu -aec %s 127.0.0.1 %s", gw["aetitle"], str(gw["port"])).rc == 0
    res = dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(gw["port"]), timeout=60)
    assert res.returncode == 0, res.stderr


def test_a_minimal_host_got_what_the_backend_needs(host):
    """The gateway started without dbus and sudo: the role installed dbus (systemd-run, its probe of
    the access list, needs the bus) and never needed sudo (Ansible connects as root)."""
    assert host.package("dbus").is_installed
    assert not host.package("sudo").is_installed
