#!/usr/bin/env python3
"""Recompute the state root's golden vectors (crates/runtime/src/state_hash.rs) independently.

Run: python3 scripts/state_root_vectors.py   (needs the `blake3` package: pip install blake3)
It prints the roots of the Rust test `roots_and_saved_lanes_are_pinned` (contract 01..,
entries x=1 and y=2, keyed with 07..) from the construction the module documents: each
entry's 1024 little-endian 16-bit lanes from BLAKE3's extendable output, keyed by the
element context (and the key, when keyed), summed lane-wise modulo 2^16, and the root as
BLAKE3 over the contract id and the lanes under the root context.
"""

import struct

from blake3 import blake3

ELEMENT_CONTEXT = "fat/state-root/element/v2"
ROOT_CONTEXT = "fat/state-root/v2"
LANES = 1024


def hasher(context: str, key):
    if key is None:
        return blake3(derive_key_context=context)
    return blake3(key=blake3(key, derive_key_context=context).digest())


def element(contract: bytes, key, k: bytes, v: bytes):
    h = hasher(ELEMENT_CONTEXT, key)
    h.update(contract)
    h.update(struct.pack("<Q", len(k)) + k)
    h.update(struct.pack("<Q", len(v)) + v)
    return struct.unpack(f"<{LANES}H", h.digest(length=LANES * 2))


def state(contract: bytes, key, entries):
    lanes = [0] * LANES
    for k, v in entries:
        lanes = [(a + b) & 0xFFFF for a, b in zip(lanes, element(contract, key, k, v))]
    saved = struct.pack(f"<{LANES}H", *lanes)
    h = hasher(ROOT_CONTEXT, key)
    h.update(contract)
    h.update(saved)
    return h.hexdigest(), saved


CONTRACT = bytes([1] * 32)
KEY = bytes([7] * 32)
ENTRIES = [(b"x", b"1"), (b"y", b"2")]
print("empty root       ", state(CONTRACT, None, [])[0])
print("root             ", state(CONTRACT, None, ENTRIES)[0])
print("keyed empty root ", state(CONTRACT, KEY, [])[0])
root, saved = state(CONTRACT, KEY, ENTRIES)
print("keyed root       ", root)
print("keyed lanes      ", saved[:16].hex())
