# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Managed by Ansible (pacsgate.listener, role dicom_listener): local changes are overwritten.

"""Run pypx's px-listen without importing all of pypx first.

xinetd starts px-listen once per association, and a PACS waits for it: everything px-listen
imports before it starts storescp is paid on every association. ``import pypx`` runs
``pypx/__init__.py``, which imports every pypx subcommand (aiohttp, dask, pfstate, swift
clients...) although px-listen only needs ``pypx.listen``; ``import pfmisc`` likewise imports
all of pfmisc; and px-listen and pfmisc import the pudb debugger, which nothing calls while
receiving.

This launcher runs px-listen's own script, unchanged, from the virtualenv it is started with
(the role installs it with the first line ``#!<venv>/bin/python -I``), after registering in
``sys.modules``:

* ``pypx`` and ``pfmisc`` as bare packages (their real ``__path__``, their ``__init__`` not
  run), with only the names px-listen and ``pypx.listen`` use (``pypx.listen``,
  ``pfmisc.debug``, ``pfmisc.Colors``) taken from the real submodules;
* ``pudb`` and ``pudb.remote`` as stand-ins whose ``set_trace`` imports the real pudb on
  first use (nothing in px-listen calls it);
* ``pydicom`` as a stand-in that imports the real pydicom on first use, which is the filing
  pass after storescp has finished, not before storescp accepts the association.

With ``--headers-only`` (the role's ``dicom_listener_lean_filing``), ``pydicom.dcmread`` as
pypx.listen sees it reads only the attributes pypx.listen files by and stops before the pixel
data; pypx.listen then copies the received file as it always does, so what is filed is the same.
This one changes how pypx's code runs, which is why it is a separate, documented option.

Concurrent associations file one after another: once storescp has returned, pypx.listen's
filing pass waits for an exclusive lock (``flock``) on ``<log dir>/.pacsgate-filing.lock``, held
until px-listen exits. pypx.listen writes ``receiving.series`` in the series directory if it is
missing and renames it to ``series.info`` at the end; two associations filing into the same series
at once race there, and the loser raises before it copies its image, which then stays unfiled in
the tmp dir while the sender saw Success (seen once in 50 simultaneous single-image associations).
Filing a few files takes milliseconds; receiving, which takes the time, still runs in parallel.

Each association's uuid dir gets a lock: once pypx.listen.Listen.__init__ has made
``<tmp dir>/<uuid>``, the launcher creates ``<tmp dir>/<uuid>/.lock`` and holds an exclusive flock
on it for the life of the process (through receiving and filing). The filer (pacsgate_listener.filer)
uses the same lock protocol: a px-listen dir whose lock it can take is no longer being received or
filed by px-listen.

No shell: pypx.listen builds storescp's command as one string for
``subprocess.run(command, shell=True)``; the launcher runs it as an argv list instead. It accepts
only the shape pypx builds (``<executable> -id -od <uuid dir> -pm -sp -d ><uuid dir>/debug.log``,
with the executable and uuid dir of that Listen), runs ``[executable, '-id', '-od', <uuid dir>,
'-pm', '-sp', '-d']`` with its standard output written to ``<uuid dir>/debug.log``, as the shell
did, and refuses (raises, nothing is run) any other command given with ``shell=True``.

No pypx file is changed; what px-listen does with its arguments, directories and files is its own
code. ``--check-imports`` does what px-listen does before it starts storescp (its imports and
``Listen()`` in a scratch directory) and prints which of the avoided modules that loaded (the
tests use it). Usage:

    px_listen_lean.py [--headers-only] [--check-imports | PX-LISTEN ARGS]

One file, two places: the role installs it as the launcher (``/usr/local/libexec/pacsgate/``),
and it is a module of the gateway's package (``pacsgate_listener.px_listen_lean``), whose filer
imports pypx with its ``bare_package`` and ``deferred_debugger``. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import importlib
import importlib.util
import os
import re
import runpy
import sys
import tempfile
import types

# Modules the launcher keeps px-listen from importing before storescp runs.
AVOIDED = ("aiohttp", "dask", "pfstate", "pudb", "urwid", "pydicom", "pypx.find", "pypx.repack",
           "pypx.smdb", "pypx.push", "pfmisc.pfmisc", "swiftclient")


def bare_package(name):
    """Register package NAME with its real __path__ but without running its __init__."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("%s is not an installed package" % name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return module


def deferred_debugger(name):
    """A stand-in for pudb or pudb.remote whose set_trace loads the real debugger first."""
    module = types.ModuleType(name)
    module.__doc__ = "pacsgate.listener stand-in: the real %s is imported on first use" % name
    # No __getattr__ here: inspect.getmodule() finds no __file__ and passes it by.

    def set_trace(*args, **kwargs):
        for stub in ("pudb.remote", "pudb"):
            if getattr(sys.modules.get(stub), "__pacsgate_stub__", False):
                del sys.modules[stub]
        return importlib.import_module(name).set_trace(*args, **kwargs)

    module.set_trace = set_trace
    module.__pacsgate_stub__ = True
    return module


def deferred_module(name, wrap=None):
    """A stand-in for NAME that imports the real module when one of its names is first used.

    (importlib's LazyLoader does not help here: an ``import NAME`` statement reads the module's
    ``__spec__``, which loads it.)"""
    stub = types.ModuleType(name)
    stub.__doc__ = "pacsgate.listener stand-in: the real %s is imported on first use" % name
    stub.__pacsgate_stub__ = True
    state = {}

    def __getattr__(attr):
        # Module metadata is not a use: inspect.getmodule(), which pfmisc's debug logger calls
        # through inspect.stack() for every message, asks every module for __file__.
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        if "module" not in state:
            if sys.modules.get(name) is stub:
                del sys.modules[name]
            state["module"] = importlib.import_module(name)
            state["wrapped"] = wrap(state["module"]) if wrap else {}
        if attr in state["wrapped"]:
            return state["wrapped"][attr]
        return getattr(state["module"], attr)

    stub.__getattr__ = __getattr__
    sys.modules[name] = stub
    return stub


# The DICOM attributes pypx.listen reads from each received file to file it.
HEADER_TAGS = ("PatientID", "PatientName", "StudyDescription", "StudyDate", "StudyInstanceUID",
               "SeriesDescription", "SeriesDate", "SeriesInstanceUID", "SOPInstanceUID",
               "InstanceNumber", "ProtocolName")


def header_reader(pydicom):
    """pydicom.dcmread reading only the attributes pypx.listen files by, never the pixel data.

    pypx.listen reads every received file with dcmread only to take those attributes from it and
    then copies the file itself, so what it files is the same; reading the whole data set (pixel
    data included) is most of the time the filing pass takes."""
    real = pydicom.dcmread

    def dcmread(fp, *args, **kwargs):
        kwargs.setdefault("stop_before_pixels", True)
        kwargs.setdefault("specific_tags", list(HEADER_TAGS))
        return real(fp, *args, **kwargs)

    dcmread.__wrapped__ = real
    return {"dcmread": dcmread}


# In pypx.listen's log directory: held by the association that is filing.
FILING_LOCK = ".pacsgate-filing.lock"
# In each association's uuid dir: held by px-listen for its whole life.
ASSOCIATION_LOCK = ".lock"
# Descriptors of the association locks held (never closed: released when the process exits).
HELD_LOCKS = []

# pypx.listen.Listen.run()'s storescp command: executable + ' -id -od ' + uuid dir + ' -pm -sp -d >'
# + uuid dir + '/debug.log'.
STORESCP_COMMAND = re.compile(r"(?P<executable>\S+) -id -od (?P<output>\S+) -pm -sp -d >(?P<log>\S+)")


def hold_association_lock(listen_module):
    """Once Listen.__init__ has made the association's uuid dir, create <uuid dir>/.lock and hold an
    exclusive flock on it until the process exits."""
    real_init = listen_module.Listen.__init__

    def __init__(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        uuid_directory = getattr(self, "uuid_directory", None)
        if uuid_directory:
            fd = os.open(os.path.join(uuid_directory, ASSOCIATION_LOCK),
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
            fcntl.flock(fd, fcntl.LOCK_EX)
            HELD_LOCKS.append(fd)

    listen_module.Listen.__init__ = __init__


def storescp_argv(command, executable=None, output=None):
    """(argv list, debug log path) of the storescp command pypx.listen builds; ValueError otherwise.

    With the executable and uuid dir of the Listen that built it, the command must be exactly what
    pypx builds from them (which also holds for paths with spaces, which the shell would have split);
    without them, the words must have pypx's shape, with no spaces in the paths."""
    if not isinstance(command, str):
        raise ValueError("not a command string")
    if executable is not None and output is not None:
        log = output + "/debug.log"
        if command == "%s -id -od %s -pm -sp -d >%s" % (executable, output, log):
            return [executable, "-id", "-od", output, "-pm", "-sp", "-d"], log
        raise ValueError("not the storescp command pypx.listen builds")
    match = STORESCP_COMMAND.fullmatch(command)
    if not match or match.group("log") != match.group("output") + "/debug.log":
        raise ValueError("not the storescp command pypx.listen builds")
    return [match.group("executable"), "-id", "-od", match.group("output"), "-pm", "-sp", "-d"], match.group("log")


def run_storescp(real_subprocess, state, args, kwargs):
    """subprocess.run(command, shell=True) as pypx.listen calls it, without a shell."""
    command = args[0] if args else kwargs.get("args")
    try:
        argv, log = storescp_argv(command, state.get("executable"), state.get("output"))
    except ValueError:
        raise RuntimeError("px_listen_lean.py: refusing to run a shell command that is not pypx.listen's "
                           "storescp command") from None
    options = dict(kwargs)
    options.pop("shell", None)
    options.pop("args", None)
    # The shell's stdout went to debug.log; its stderr where subprocess.run sent the shell's.
    stderr = options.get("stderr")
    if stderr == real_subprocess.STDOUT:
        stderr = options.get("stdout")
    options["stderr"] = stderr
    handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    options["stdout"] = handle
    try:
        return real_subprocess.run(argv, *args[1:], **options)
    except OSError:
        # The shell would have said "not found" and exited 127; pypx ignores the status.
        return real_subprocess.CompletedProcess(argv, 127)
    finally:
        os.close(handle)


def one_filing_at_a_time(listen_module):
    """Make pypx.listen's filing pass, which starts when its storescp (subprocess.run) returns,
    wait for an exclusive lock in the log directory, held until the process exits; and run the
    storescp command without a shell (run_storescp)."""
    real_subprocess = getattr(listen_module, "subprocess", None)
    if real_subprocess is None:
        return
    state = {}
    real_init = listen_module.Listen.__init__

    def __init__(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        if getattr(self, "log_directory", None):
            state["lock"] = os.path.join(self.log_directory, FILING_LOCK)
        state["executable"] = getattr(self, "executable", None)
        state["output"] = getattr(self, "uuid_directory", None)

    proxy = types.ModuleType("subprocess")
    proxy.__dict__.update(vars(real_subprocess))

    def run(*args, **kwargs):
        if kwargs.get("shell"):
            result = run_storescp(real_subprocess, state, args, kwargs)
        else:
            result = real_subprocess.run(*args, **kwargs)
        if "lock" in state and "handle" not in state:
            # pydicom, deferred until the filing pass, is loaded before the wait: the lock
            # covers the filing itself, not an import each association pays anyway.
            pydicom = getattr(listen_module, "pydicom", None)
            if pydicom is not None:
                getattr(pydicom, "dcmread", None)
            handle = open(state["lock"], "a")  # pylint: disable=consider-using-with
            fcntl.flock(handle, fcntl.LOCK_EX)
            state["handle"] = handle  # released when px-listen exits
        return result

    proxy.run = run
    listen_module.Listen.__init__ = __init__
    listen_module.subprocess = proxy


def prepare(headers_only=False):
    """Set up sys.modules so that px-listen imports only what receiving needs."""
    pudb = deferred_debugger("pudb")
    pudb.remote = deferred_debugger("pudb.remote")
    sys.modules["pudb"] = pudb
    sys.modules["pudb.remote"] = pudb.remote
    deferred_module("pydicom", header_reader if headers_only else None)

    pfmisc = bare_package("pfmisc")
    pfmisc.Colors = importlib.import_module("pfmisc._colors").Colors
    pfmisc.debug = importlib.import_module("pfmisc.debug").debug

    pypx = bare_package("pypx")
    listen_module = importlib.import_module("pypx.listen")
    hold_association_lock(listen_module)
    one_filing_at_a_time(listen_module)

    def listen(opt=None):
        """pypx.listen() as pypx/__init__.py defines it."""
        return listen_module.Listen(opt or {}).run()

    pypx.listen = listen
    return pypx


def loaded_avoided():
    """The avoided modules that are really loaded (not stand-ins, not still lazy)."""
    found = []
    for name in AVOIDED:
        module = sys.modules.get(name)
        if module is None or getattr(module, "__pacsgate_stub__", False):
            continue
        found.append(name)
    return found


def px_listen_script():
    """px-listen as pip installed it into the virtualenv this interpreter belongs to."""
    return os.path.join(sys.prefix, "bin", "px-listen")


def check_imports(headers_only):
    """Do what px-listen does before it starts storescp, then list the avoided modules loaded.

    That is px-listen's imports and pypx.listen.Listen(...), whose logger (pfmisc.debug) walks
    the stack and asks every loaded module for its file; it runs here in a scratch directory."""
    prepare(headers_only)
    importlib.import_module("terminaltables")
    importlib.import_module("rpudb")
    with tempfile.TemporaryDirectory() as scratch:
        args = dict(("%s_directory" % d, os.path.join(scratch, d)) for d in ("tmp", "log", "data"))
        args["executable"] = "/bin/false"
        sys.modules["pypx.listen"].Listen(args)
    found = loaded_avoided()
    sys.stdout.write("avoided modules loaded: %s\n" % (" ".join(found) or "none"))
    return 1 if found else 0


def main(argv):
    args = list(argv[1:])
    headers_only = "--headers-only" in args[:2]
    if headers_only:
        args.remove("--headers-only")
    if args[:1] == ["--check-imports"]:
        return check_imports(headers_only)
    prepare(headers_only)
    script = px_listen_script()
    sys.argv = [script] + args
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
