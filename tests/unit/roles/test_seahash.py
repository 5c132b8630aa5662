"""The role's pure-Python seahash (roles/dicom_listener/files/seahash) against PyPI's Rust
extension seahash 0.2.0 (installed in the harness' virtualenv, CPython 3.11, which has a wheel),
and the committed wheel against a fresh build from the committed source."""

import hashlib
import importlib.util
import os
import random
import subprocess
import sys
import zipfile

import seahash as real  # PyPI's Rust extension, pinned in requirements/test.txt


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..', '..')
SOURCE = os.path.join(ROOT, 'roles', 'dicom_listener', 'files', 'seahash', '__init__.py')
WHEEL_DIR = os.path.join(ROOT, 'roles', 'dicom_listener', 'files', 'wheels')
spec = importlib.util.spec_from_file_location('pure_seahash', SOURCE)
pure = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pure)


def test_the_reference_is_the_rust_extension():
    assert real.__version__ == "0.2.0"
    assert real.__file__ != pure.__file__
    assert any(f.endswith(".so") for f in os.listdir(os.path.dirname(real.__file__)))


def inputs():
    rng = random.Random(20261129)
    # Every length around the 8-byte words and 32-byte rounds, then longer buffers.
    for n in list(range(0, 130)) + [255, 256, 257, 1000, 4095, 4096, 65536 + 7]:
        for _repeat in range(3):
            yield bytes(rng.getrandbits(8) for _byte in range(n))
    yield b"\xff" * 64
    yield b"\0" * 64
    # What pypx hashes: UTF-8 encoded DICOM UIDs and descriptions.
    yield "1.2.840.113619.2.55.3.604688119.969.1268071029.320".encode("utf-8")
    yield "Série T1 – ÄÖÜ".encode("utf-8")


def test_hash_is_bit_identical():
    count = 0
    for buf in inputs():
        assert pure.hash(buf) == real.hash(buf), buf
        count += 1
    assert count > 400


def test_hash_seeded_is_bit_identical():
    rng = random.Random(7)
    for buf in inputs():
        seeds = [rng.getrandbits(64) for _lane in range(4)]
        assert pure.hash_seeded(buf, *seeds) == real.hash_seeded(buf, *seeds)


def test_hasher_object_is_identical():
    rng = random.Random(11)
    for buf in inputs():
        cut = rng.randint(0, len(buf))
        r, p = real.SeaHash(), pure.SeaHash()
        r.update(buf[:cut])
        p.update(buf[:cut])
        r2, p2 = r.copy(), p.copy()
        r2.update(buf[cut:])
        p2.update(buf[cut:])
        assert p2.hexdigest() == r2.hexdigest()
        assert p2.digest() == r2.digest()
        assert p2.intdigest() == r2.intdigest()
        assert p.hexdigest() == r.hexdigest()  # the copy left the original alone
    assert pure.SeaHash(b"abc").hexdigest() == real.SeaHash(b"abc").hexdigest()
    assert (pure.SeaHash.digest_size, pure.SeaHash.block_size) == (real.SeaHash.digest_size, real.SeaHash.block_size)


def test_pypx_usage_gives_the_same_name():
    """pypx/repack.py: SeaHash(); update(str.encode('utf-8')); hexdigest()[0:7]."""
    for uid in ("1.2.3.4.5", "1.3.12.2.1107.5.2.32.35162.2012021516430751346507438"):
        r, p = real.SeaHash(), pure.SeaHash()
        r.update(uid.encode("utf-8"))
        p.update(uid.encode("utf-8"))
        assert p.hexdigest()[0:7] == r.hexdigest()[0:7]


def test_committed_wheel_is_built_from_the_committed_source(tmp_path):
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'seahash_wheel.py'), str(tmp_path)], check=True,
                   capture_output=True)
    built = os.listdir(str(tmp_path))
    assert built == os.listdir(WHEEL_DIR)
    with open(os.path.join(str(tmp_path), built[0]), 'rb') as a, open(os.path.join(WHEEL_DIR, built[0]), 'rb') as b:
        assert hashlib.sha256(a.read()).hexdigest() == hashlib.sha256(b.read()).hexdigest()
    with zipfile.ZipFile(os.path.join(WHEEL_DIR, built[0])) as zf, open(SOURCE, 'rb') as src:
        assert zf.read('seahash/__init__.py') == src.read()
