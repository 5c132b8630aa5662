# Copyright: (c) 2026, pacsgate.listener contributors
# MIT License (as the seahash package it stands in for)
"""SeaHash in pure Python, with the API of the `seahash` 0.2.0 package on PyPI.

pypx imports `seahash` (pypx/repack.py: SeaHash().update(...).hexdigest()). PyPI's seahash 0.2.0
is a Rust extension with wheels for CPython up to 3.11 only; on newer Pythons pip would have to
compile it with a Rust toolchain. The role ships this module as a wheel where no binary wheel
exists; tests/unit/roles/test_seahash.py proves it bit-identical to the Rust extension.

The algorithm is SeaHash 4.1 (crate `seahash`, buffer.rs): four 64-bit lanes, the input read as
little-endian 64-bit words (the last one zero-padded), 32 bytes per round, each lane diffused
after it took a word; then the lanes are folded, the length mixed in and diffused once more.
"""

__version__ = "0.2.0"
__all__ = ["SeaHash", "hash", "hash_seeded"]

_MASK = (1 << 64) - 1
_PRIME = 0x6EED0E9DA4D94A4F
_SEEDS = (0x16F11FE89B0D677C, 0xB480A793D8E6C86C, 0x6FE2E5AAF078EBC9, 0x14F994A4C5259381)


def _diffuse(x):
    x = (x * _PRIME) & _MASK
    x ^= (x >> 32) >> (x >> 60)
    return (x * _PRIME) & _MASK


def hash_seeded(buf, a, b, c, d):
    """Hash some bytes according to a chosen seed (four 64-bit integers)."""
    buf = bytes(buf)
    lanes = [a & _MASK, b & _MASK, c & _MASK, d & _MASK]
    n = len(buf)
    padded = buf + b"\0" * (-n % 8)
    for i in range(0, len(padded), 8):
        lane = (i // 8) % 4
        lanes[lane] = _diffuse(lanes[lane] ^ int.from_bytes(padded[i:i + 8], "little"))
    a, b, c, d = lanes
    return _diffuse(a ^ b ^ c ^ d ^ n)


def hash(buf):  # noqa: A001 (the name of seahash's own function)
    """Hash some bytes."""
    return hash_seeded(buf, *_SEEDS)


class SeaHash(object):
    """A hashlib-like object: collects bytes, hashes them on demand."""

    digest_size = 8
    block_size = 8

    def __init__(self, string=b""):
        self._inner = bytearray(string)

    def update(self, obj):
        self._inner += bytes(obj)

    def intdigest(self):
        return hash(self._inner)

    def digest(self):
        return self.intdigest().to_bytes(8, "little")

    def hexdigest(self):
        return "%x" % self.intdigest()

    def copy(self):
        return SeaHash(self._inner)
