"""dicom_listener_info on the real gateway, and what the role and the status playbook make of it."""

import json
import os
import subprocess

import pytest

from harness import run_playbook


def info(host, args=""):
    return host.ansible("pacsgate.listener.dicom_listener_info", args, check=False, become=True)


def test_host_ip_is_the_address_docker_gives_the_gateway(host, gw):
    result = info(host)
    assert result["changed"] is False
    assert result["host_ip"] == gw["ip"]
    assert gw["ip"] in [a["address"] for a in result["host_ips"]]
    assert "127.0.0.1" not in [a["address"] for a in result["host_ips"]]


def test_listener_state(host, gw):
    result = info(host)
    assert result["xinetd"]["installed"] and result["xinetd"]["running"] and result["xinetd"]["enabled"]
    assert result["xinetd"]["pid"] == int(host.run("pidof xinetd").stdout.split()[0])
    service = result["service"]
    assert service["found"] and service["error"] is None
    assert (service["port"], service["user"], service["disable"]) == (gw["port"], gw["user"], False)
    assert service["env"] == {"TCP_NODELAY": "1"}
    assert result["listening"] is True
    assert result["aetitle"] == gw["aetitle"]
    px = result["px_listen"]
    # xinetd starts the venv's px-listen through the lean launcher (the default).
    assert px["launcher"] == "/usr/local/libexec/pacsgate/px_listen_lean.py"
    assert px["link"] == px["target"] == os.path.join(gw["venv_dir"], "bin", "px-listen")
    assert px["version"] == "1.2.0"


def test_echo_answers(host, gw):
    result = info(host, "echo=true")
    assert result["echo"]["ok"] is True, result["echo"]
    assert result["echo"]["rtt_ms"] > 0
    assert result["summary"].startswith(
        "Send to AE title %s at %s:%d: the listener answers C-ECHO" % (gw["aetitle"], gw["ip"], gw["port"]))


def test_pacs_echo_to_a_pacs_that_is_not_there_is_a_result(host):
    args = {"pacs_echo": True, "timeout": 5,
            "pacs": [{"name": "nobody", "aetitle": "NOBODY", "host": "127.0.0.1", "port": 1}]}
    result = info(host, json.dumps(args))
    assert "failed" not in result or not result["failed"]
    (echo,) = result["pacs_echo"]
    assert echo["ok"] is False and "refused" in echo["message"].lower()
    assert "PACS not answering: nobody" in result["summary"]


def test_health_is_clean_after_a_study(host, sent_study):
    assert len(sent_study["filed"]) == sent_study["expected"]
    # stranded_age=0: every association dir with an unfiled instance counts, however recent.
    health = info(host, "stranded_age=0")["health"]
    assert health["tmp_associations"] >= 1
    assert (health["stranded_associations"], health["error_logs"], health["receiving_series"]) == (0, 0, 0), health
    assert health["filed_instances"] >= sent_study["expected"]
    assert health["disk"]["free_bytes"] > 0


def test_health_sees_a_study_that_was_never_filed(host, gw):
    # An association dir holding an instance that is not in the data dir, as px-listen leaves it
    # when filing fails; removed again at the end.
    path = "%s/pacsgate-test-stranded" % gw["tmp_dir"]
    host.run("mkdir -p %s/DOE && echo x > %s/DOE/CT.1.2.3.999.1", path, path)
    try:
        health = info(host, "stranded_age=0")["health"]
        assert health["stranded_associations"] == 1 and health["stranded_instances"] == 1
        assert path in health["stranded_paths"]
    finally:
        host.run("rm -rf %s", path)


def test_role_writes_host_ip_for_pfdcm(host, gw):
    env_file = host.ansible.get_variables().get("dicom_listener_host_ip_env_file")
    assert env_file, "the scenario sets dicom_listener_host_ip_env_file"
    f = host.file(env_file)
    assert f.mode == 0o644 and f.user == "root"
    assert "HOST_IP=%s\n" % gw["ip"] in f.content_string


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")
def test_status_playbook_prints_a_block_per_gateway(gw):
    out, recap = run_playbook("pacsgate.listener.status", limit=gw["name"])
    assert "changed=0" in recap and "failed=0" in recap
    assert "Send to AE title %s at %s:%d: the listener answers C-ECHO" % (gw["aetitle"], gw["ip"], gw["port"]) in out
    assert "xinetd: running, pid" in out
    assert "px-listen: %s -> " % os.path.join(gw["venv_dir"], "bin", "px-listen") in out
    assert "0 stranded association(s)" in out
    # The scenario's PACS entry points at the Docker host, where no PACS listens.
    assert "PACS test-sender (AE title PACSGATE-TEST at" in out and "C-ECHO FAILED" in out


def test_ansible_doc_renders_the_module():
    res = subprocess.run(["ansible-doc", "pacsgate.listener.dicom_listener_info"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    for word in ("host_ip", "pacs_echo", "stranded_age", "RETURN VALUES"):
        assert word in res.stdout
