"""Build the pure-Python seahash wheel the role ships (roles/dicom_listener/files/wheels/).

The wheel is built from roles/dicom_listener/files/seahash/__init__.py, byte for byte the same
on every run (fixed timestamps and order), so tests/unit/roles/test_seahash.py can check that the
committed wheel is exactly what this script makes from the committed source.

Usage: python3 scripts/seahash_wheel.py [OUT_DIR]     (default: roles/dicom_listener/files/wheels)
"""

import base64
import hashlib
import os
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "roles", "dicom_listener", "files", "seahash", "__init__.py")
NAME = "seahash"
VERSION = "0.2.0+purepython"
WHEEL_NAME = "%s-%s-py3-none-any.whl" % (NAME, VERSION)
DIST_INFO = "%s-%s.dist-info" % (NAME, VERSION)

METADATA = """Metadata-Version: 2.1
Name: seahash
Version: %s
Summary: SeaHash in pure Python, with the API of seahash 0.2.0 (a stand-in where no binary wheel exists)
License: MIT
Requires-Python: >=3.7

Shipped by the Ansible collection pacsgate.listener for pypx on Pythons for which PyPI's
seahash 0.2.0 has no wheel. Bit-identical to the Rust extension (see the collection's tests).
""" % VERSION

WHEEL = """Wheel-Version: 1.0
Generator: pacsgate.listener scripts/seahash_wheel.py
Root-Is-Purelib: true
Tag: py3-none-any
"""


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def build(out_dir):
    with open(SOURCE, "rb") as f:
        source = f.read()
    files = [
        ("seahash/__init__.py", source),
        (DIST_INFO + "/METADATA", METADATA.encode()),
        (DIST_INFO + "/WHEEL", WHEEL.encode()),
    ]
    record = "\n".join([_record_line(n, d) for n, d in files] + [DIST_INFO + "/RECORD,,"]) + "\n"
    files.append((DIST_INFO + "/RECORD", record.encode()))
    path = os.path.join(out_dir, WHEEL_NAME)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "roles", "dicom_listener", "files", "wheels")
    os.makedirs(target, exist_ok=True)
    print(build(target))
