"""dicom_listener_info on the real gateways, what the role publishes of it, and the status
playbook: right on every release, counts and ages only, exit codes an operator can alert on."""

import json
import os
import subprocess

import pytest

from harness import run_playbook

needs_molecule = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")


def info(host, args=""):
    return host.ansible("pacsgate.listener.dicom_listener_info", args, check=False, become=True)


def test_host_ip_is_the_address_docker_gives_the_gateway(host, gw):
    result = info(host)
    assert result["changed"] is False
    assert result["host_ip"] == gw["ip"]
    assert gw["ip"] in [a["address"] for a in result["host_ips"]]
    assert "127.0.0.1" not in [a["address"] for a in result["host_ips"]]


def test_listener_and_filer_state_from_the_settings_alone(host, gw):
    result = info(host)
    assert (result["backend"], result["receiver"], result["aetitle"], result["port"]) == (
        "xinetd", "filer", gw["aetitle"], gw["port"])
    listener = result["listener"]
    assert (listener["manager"], listener["installed"], listener["running"], listener["enabled"]) == (
        "xinetd", True, True, True)
    assert listener["found"] and listener["listening"] and not listener["disable"]
    assert result["filer"]["running"] and result["filer"]["enabled"]
    assert "px_listen" not in result


def test_echo_answers_and_the_summary_says_where_to_send(host, gw):
    result = info(host, "echo=true")
    assert result["echo"]["ok"] is True, result["echo"]
    assert result["summary"].startswith(
        "Send to AE title %s at %s:%d: the listener answers C-ECHO" % (gw["aetitle"], gw["ip"], gw["port"]))


def test_health_is_clean_after_a_study(host, gw, sent_study):
    assert len(sent_study["filed"]) == sent_study["expected"]
    result = info(host)
    health = result["health"]
    assert (health["queued"], health["stranded"], health["quarantined_instances"]) == (0, 0, 0), health
    assert health["received_today"] >= sent_study["expected"]
    assert health["instances_filed"] >= sent_study["expected"]
    assert health["last_association_age"] is not None and health["last_association_age"] < 3600
    assert health["disk"]["data"]["free_bytes"] > 0
    assert result["problems"] == [], result["problems"]


def test_health_sees_what_is_received_and_never_filed(host, gw):
    """With the filer stopped, an association that ended ten minutes ago (its lock free) waits:
    stranded once it waits longer than dicom_listener_refile_after_minutes, named as a problem, and
    the stopped filer too; its path only on request."""
    name = "20000101T000000-9-deadbeef"
    path = "%s/incoming/%s" % (gw["tmp_dir"], name)
    filer = "pacsgate-filer-%s" % gw["service_name"]
    host.run("systemctl stop %s", filer)
    try:
        host.run("install -d -o %s -g %s %s && runuser -u %s -- touch %s/.lock %s/CT.1.2.3.999.1 && "
                 "touch -d '10 minutes ago' %s/.lock %s/CT.1.2.3.999.1 %s", gw["user"], gw["group"], path,
                 gw["user"], path, path, path, path, path)
        result = info(host)
        assert result["health"]["stranded"] == 1, result["health"]
        conditions = [p["condition"] for p in result["problems"]]
        assert "stranded" in conditions and "listener" in conditions, result["problems"]
        # Counts only: no path names an association (or a patient, a study).
        assert name not in json.dumps(result) and gw["data_dir"] + "/" not in json.dumps(result)
        assert name in json.dumps(info(host, "show_paths=true")["health"])
    finally:
        host.run("rm -rf %s", path)
        host.run("systemctl start %s", filer)


def test_role_writes_host_ip_for_pfdcm(host, gw):
    env_file = host.ansible.get_variables().get("dicom_listener_host_ip_env_file")
    assert env_file, "the scenario sets dicom_listener_host_ip_env_file"
    f = host.file(env_file)
    assert f.mode == 0o644 and f.user == "root"
    assert "HOST_IP=%s\n" % gw["ip"] in f.content_string


@needs_molecule
def test_status_playbook_prints_the_fleet_and_fails_on_the_unreachable_pacs(gw):
    """The scenario's PACS entry is the Docker host, where no PACS listens: the table and the
    details are printed, and the play fails that gateway (exit 2) on pacs_echo only."""
    out, recap = run_playbook("pacsgate.listener.status", "-v", limit=gw["name"], expect_failure=True)
    assert "changed=0" in recap and "failed=1" in recap, recap
    assert gw["name"] in out and gw["aetitle"] in out and gw["ip"] in out
    assert "pacs_echo" in out and "C-ECHO FAILED" in out
    # No patient data in what an AWX log or a log store would keep.
    assert "PACSGATE^TEST" not in out and "PACSGATE.TEST" not in out


@needs_molecule
def test_status_playbook_passes_with_the_pacs_check_switched_off(gw):
    out, recap = run_playbook("pacsgate.listener.status", "-e", '{"dicom_listener_status_fail_on": '
                              '["listener", "echo", "stranded", "quarantined", "disk"]}', limit=gw["name"])
    assert "failed=0" in recap, recap


def test_ansible_doc_renders_the_module():
    res = subprocess.run(["ansible-doc", "pacsgate.listener.dicom_listener_info"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    for word in ("host_ip", "pacs_echo", "show_paths", "RETURN VALUES"):
        assert word in res.stdout
