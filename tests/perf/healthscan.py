"""The health scan on a gateway whose archive holds 1,000,000 instances (tests/perf/bench.py).

In the gateway container: the filer is stopped (so that it does not take the synthetic queue),
synth.py writes the archive and a tmp tree as the listener, then, as root, each reader runs in a
`python3 -c` of its own under /usr/bin/time -v (wall time, CPU, maximum resident set):
  records.health (module_utils/records.py: the tmp tree and the stats file, never the data dir),
and the status playbook's call of dicom_listener_info (whose health is records.health), kept on the gateway
(ANSIBLE_KEEP_REMOTE_FILES) and run again there under /usr/bin/time -v.
"""

import json
import os
import re
import time

from benchlib import dexec, log, playbook
from receivers import DATA, LOG, TMP

RECORDS = ("import json, sys; sys.path.insert(0, {site!r}); from pacsgate_listener import records; "
           "r = records.health({tmp!r}, {log!r}); "
           "print(json.dumps({{k: r[k] for k in ('filed_kept', 'queued', 'receiving', 'quarantined_instances', "
           "'stranded', 'complete')}}))")
TIME_FIELDS = {
    "wall": re.compile(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)"),
    "user_s": re.compile(r"User time \(seconds\): ([\d.]+)"),
    "sys_s": re.compile(r"System time \(seconds\): ([\d.]+)"),
    "max_rss_kib": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
}


def parse_time_v(text):
    """wall_s, user_s, sys_s and max_rss_mib from the output of /usr/bin/time -v."""
    out = {}
    match = TIME_FIELDS["wall"].search(text)
    if match:
        hours, minutes, seconds = match.groups()
        out["wall_s"] = round(int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), 2)
    for key in ("user_s", "sys_s"):
        match = TIME_FIELDS[key].search(text)
        if match:
            out[key] = float(match.group(1))
    match = TIME_FIELDS["max_rss_kib"].search(text)
    if match:
        out["max_rss_mib"] = round(int(match.group(1)) / 1024.0, 1)
    return out


def timed(gw, argv_text, label):
    """Runs a command line in the gateway under /usr/bin/time -v; its figures and last output line."""
    res = dexec(gw, "/usr/bin/time -v %s" % argv_text, check=False)
    row = parse_time_v(res.stderr)
    row["rc"] = res.returncode
    last = res.stdout.strip().splitlines()[-1:] or [""]
    row["output"] = last[0]
    if res.returncode != 0:
        row["error"] = res.stderr[-500:]
    log("health scan %s: %s" % (label, {k: v for k, v in row.items() if k != "output"}))
    return row


def python_c(code):
    return "/usr/bin/python3 -c %s" % shell_quote(code)


def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def status_module(gw, work, inventory):
    """The status playbook's dicom_listener_info call: the playbook's wall time, then the module
    kept on the gateway and run again under /usr/bin/time -v."""
    dexec(gw, "rm -rf /root/.ansible/tmp")
    # The filer is stopped on purpose and the declared PACS does not exist here: the problems the
    # status reports are expected, so none of them fails the playbook (fail_on empty).
    pb = playbook(inventory, "status.yml", logfile=os.path.join(work, "status.log"),
                  extra_env={"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_PIPELINING": "0"},
                  args=("-e", '{"dicom_listener_status_fail_on": []}'))
    module = dexec(gw, "ls /root/.ansible/tmp/*/AnsiballZ_dicom_listener_info.py 2>/dev/null | head -1",
                   check=False).stdout.strip()
    out = {"playbook_wall_s": pb["wall_s"],
           "module_task_s": next((t["s"] for t in pb["tasks"] if "Read each gateway" in t["task"]), None)}
    if module:
        out["module"] = timed(gw, "/usr/bin/python3 %s" % module, "status module")
        try:
            health = json.loads(out["module"].pop("output")).get("health") or {}
        except ValueError:
            health = {}
        out["module"]["health"] = {k: health.get(k) for k in ("filed_kept", "queued", "stranded",
                                                              "quarantined_instances")}
    return out


def run_scan(gw, work, patients, inventory=None):
    dexec(gw, "systemctl stop pacsgate-filer-dicomlistener")
    log("writing the synthetic archive (%d patients x 2 studies x 5 series x 100 instances)" % patients)
    t0 = time.time()
    built = dexec(gw, "python3 /bench/synth.py %s %s %s --patients %d" % (DATA, TMP, LOG, patients), user="dicom")
    out = {"archive": dict(json.loads(built.stdout.strip().splitlines()[-1]), wall_s=round(time.time() - t0, 1))}
    out["archive"]["files_in_data_dir"] = int(dexec(gw, "find %s -type f | wc -l" % DATA).stdout.strip())
    out["archive"]["dirs_in_tmp"] = int(dexec(gw, "find %s -mindepth 2 -maxdepth 2 -type d | wc -l" % TMP)
                                        .stdout.strip())
    site = dexec(gw, "ls -d /opt/pypx/lib/python3*/site-packages").stdout.strip()
    args = {"site": site, "tmp": TMP, "log": LOG, "data": DATA}
    out["records_health"] = [timed(gw, python_c(RECORDS.format(**args)), "records.health") for _i in range(3)]
    if inventory:
        out["status"] = status_module(gw, work, inventory)
    return out
