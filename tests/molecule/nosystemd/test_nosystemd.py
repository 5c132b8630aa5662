"""A gateway whose PID 1 is not systemd, as pfdcm's own container runs.

The role must find no systemd and run xinetd, the filer and cron from their init scripts (enabled
on boot with update-rc.d), restart xinetd through the init script, and still receive and file a
real study sent from the Docker host; with the filer killed, the filer pass cron runs every minute
files what arrived."""

import json
import os
import re
import time

import pytest

import harness as shared

SENDER_AET = shared.SENDER_AET
needs_molecule = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ,
                                    reason="needs Molecule's inventory")


def xinetd_pid(host):
    return host.run("pidof xinetd").stdout.strip()


def test_pid1_is_not_systemd(host):
    assert host.run("readlink /proc/1/exe").stdout.strip().endswith("/sleep")
    assert not host.file("/run/systemd/system").exists


def test_xinetd_runs_from_its_init_script_and_is_enabled_on_boot(host):
    assert xinetd_pid(host) not in ("", "0")
    assert host.run("/etc/init.d/xinetd status").rc == 0
    # update-rc.d's start links for the default runlevels.
    assert host.run("ls /etc/rc2.d/S*xinetd /etc/rc5.d/S*xinetd").rc == 0


def test_real_study_is_filed(host, gw, sent_study):
    res = sent_study["storescu"]
    assert res.returncode == 0, res.stdout + res.stderr
    missing = {uid for series in sent_study["series"].values() for uid in series} - set(sent_study["filed"])
    assert not missing, "%d of %d instances not filed" % (len(missing), sent_study["expected"])
    for series_uid in sent_study["series"]:
        info = host.run("find %s -path '*%s*' -name series.info", gw["data_dir"], series_uid).stdout.split()
        assert info, "no series.info for %s" % series_uid


def test_listener_answers_echo_from_the_pacs(gw):
    res = shared.dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(gw["port"]), timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_pypx_finds_the_pacs_by_name(host, gw):
    """pypx's own lookup (px-smdb --action PACS, smdb.service_keyAccess) reads the role's file."""
    services = host.file(os.path.join(os.path.dirname(gw["log_dir"].rstrip("/")), "services", "pacs.json"))
    assert services.user == "root" and services.group == gw["group"]
    assert services.mode == 0o640
    res = host.run("su -s /bin/sh %s -c %s", gw["user"],
                   "%s/bin/px-smdb --logdir %s --action PACS" % (gw["venv_dir"], gw["log_dir"]))
    assert res.rc == 0, res.stdout + res.stderr
    found = json.loads(res.stdout[res.stdout.index("{"):])
    assert found["status"] is True
    pacs = host.ansible.get_variables()["dicom_listener_pacs"][0]
    assert found["PACS"][pacs["name"]] == {"aet": gw["aetitle"], "aec": pacs["aetitle"],
                                           "ip": pacs["host"], "port": str(pacs["port"])}


FILER = "pacsgate-filer-dicomlistener"


def test_the_filer_runs_from_its_init_script_as_the_listener(host, gw):
    assert host.run("/etc/init.d/%s status", FILER).rc == 0
    assert host.run("ls /etc/rc2.d/S*%s", FILER).rc == 0
    pid = host.file("/run/%s.pid" % FILER).content_string.strip()
    assert host.run("ps -o user= -p %s", pid).stdout.strip() == gw["user"]


def test_housekeeping_and_the_filer_pass_run_from_cron(host, gw):
    assert host.run("pidof cron").rc == 0
    assert host.run("ls /etc/rc2.d/S*cron").rc == 0
    crontab = host.run("crontab -l -u %s", gw["user"]).stdout
    assert "pacsgate_listener.housekeeping" in crontab and "pacsgate_listener.filer" in crontab
    job = [line for line in crontab.splitlines() if line.startswith("@hourly")][0]
    job = job.split(None, 1)[1].split(">/dev/null")[0]
    run = host.run("su -s /bin/sh %s -c %s", gw["user"], job)
    assert run.rc == 0 and "housekeeping:" in run.stdout, run.stdout + run.stderr


@needs_molecule
def test_with_the_filer_killed_the_cron_pass_files_what_arrives(host, gw, tmp_path):
    """No supervisor restarts a killed filer here: cron's pass, every minute, files what waits."""
    pid = host.file("/run/%s.pid" % FILER).content_string.strip()
    host.run("kill -9 %s", pid)
    try:
        manifest = shared.dicomstudy.make_study(str(tmp_path), series=1, per_series=20)
        res = shared.dcmtk("storescu", "-aet", SENDER_AET, "-aec", gw["aetitle"], "+sd", gw["ip"], str(gw["port"]),
                           str(tmp_path))
        assert res.returncode == 0, res.stderr
        filed = {}
        for _second in range(150):
            filed = shared.filed_instances(host, gw["data_dir"], manifest["study_uid"])
            if len(filed) >= 20:
                break
            time.sleep(1)
        shared.count("with the filer killed, filed by the cron pass", sent=20, filed=len(filed))
        assert len(filed) == 20
    finally:
        shared.run_playbook("pacsgate.listener.site")
    assert host.run("/etc/init.d/%s status", FILER).rc == 0


def assert_restarted_through_the_init_script(out, prefix="RUNNING HANDLER [pacsgate.listener.dicom_listener : "):
    """Stopped, waited for until the old xinetd was gone, started: in that order, each done by the
    handler (a change and --tags service_restart notify the same one)."""
    steps = ["Stop xinetd through its init script", "Wait until the stopped xinetd has exited",
             "Start xinetd through its init script"]
    at = [out.find(prefix + step + "]") for step in steps]
    assert -1 not in at and at == sorted(at), (at, out[-3000:])
    for step, start in zip(steps, at):
        result = re.search(r"^(ok|changed|skipping|fatal)\b", out[start:], re.M).group(1)
        assert result == ("ok" if step == steps[1] else "changed"), (step, out[start:start + 600])


@needs_molecule
def test_service_restart_tag_restarts_xinetd_through_its_init_script(host):
    before = xinetd_pid(host)
    out, recap = shared.run_playbook("pacsgate.listener.site", "--tags", "service_restart")
    assert_restarted_through_the_init_script(out)
    assert "answers C-ECHO" in out
    assert xinetd_pid(host) not in ("", "0", before)


@needs_molecule
def test_changed_service_file_restarts_xinetd_through_the_handler(host, gw):
    service_file = "/etc/xinetd.d/%s" % gw["service_name"]
    before = xinetd_pid(host)
    out, recap = shared.run_playbook("pacsgate.listener.site", "-e", "dicom_listener_instances=129")
    assert_restarted_through_the_init_script(out)
    assert "answers C-ECHO" in out
    assert "instances       = 129\n" in host.file(service_file).content_string
    changed = xinetd_pid(host)
    assert changed not in ("", "0", before)
    # Back to the scenario's configuration: restarted again, and the PACS is served.
    out, recap = shared.run_playbook("pacsgate.listener.site")
    assert_restarted_through_the_init_script(out)
    assert "instances       = 128\n" in host.file(service_file).content_string
    assert xinetd_pid(host) not in ("", "0", changed)
    res = shared.dcmtk("echoscu", "-aet", SENDER_AET, "-aec", gw["aetitle"], gw["ip"], str(gw["port"]), timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
