#!/usr/bin/env python3
"""Recompute the key tree's golden vectors (crates/crypto/src/keytree.rs) independently.

Run: python3 scripts/keytree_vectors.py
It prints each key of the tree derived from the fixed inputs of the Rust test
(master key 01.., cluster id 02.., contract id 04..); the test pins the same hex. The
cluster key is the one of the last epoch (4095, the chain's start); the epoch keys below it
are each derived from the next.
HKDF-SHA256 comes from the standard library (RFC 5869 by hand, over hmac); the X25519
public keys need the `cryptography` package and are skipped without it.
"""

import hashlib
import hmac


def hkdf_sha256(ikm: bytes, info: bytes) -> bytes:
    """RFC 5869 with no salt (a zero-filled one), 32 bytes of output."""
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def x25519_public(secret: bytes):
    try:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    except ImportError:
        return None
    key = X25519PrivateKey.from_private_bytes(secret).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


MASTER = bytes([1] * 32)
CLUSTER = bytes([2] * 32)
CONTRACT = bytes([4] * 32)

cluster_key = hkdf_sha256(MASTER, b"fat/key-tree/cluster/v1" + CLUSTER)
cluster_ecdh = hkdf_sha256(cluster_key, b"fat/key-tree/cluster-ecdh/v1")
vectors = [
    ("CLUSTER_KEY", cluster_key),
    ("CLUSTER_ECDH", cluster_ecdh),
    ("CLUSTER_ECDH_PUBLIC", x25519_public(cluster_ecdh)),
]
contract_ecdh = hkdf_sha256(cluster_key, b"fat/key-tree/contract-ecdh/v1" + CONTRACT)
vectors += [
    ("CONTRACT_SECRET", hkdf_sha256(cluster_key, b"fat/key-tree/contract-secret/v1" + CONTRACT)),
    ("CONTRACT_ECDH", contract_ecdh),
    ("CONTRACT_ECDH_PUBLIC", x25519_public(contract_ecdh)),
    ("AT_REST", hkdf_sha256(cluster_key, b"fat/key-tree/at-rest/v1" + CONTRACT)),
    ("STATE_ROOT", hkdf_sha256(cluster_key, b"fat/key-tree/state-root/v1" + CONTRACT)),
]
previous = hkdf_sha256(cluster_key, b"fat/key-tree/cluster-epoch/v1")
epoch_0 = cluster_key
for _ in range(4095):
    epoch_0 = hkdf_sha256(epoch_0, b"fat/key-tree/cluster-epoch/v1")
vectors += [
    ("CLUSTER_KEY_EPOCH_4094", previous),
    ("CLUSTER_KEY_EPOCH_0", epoch_0),
]
for name, value in vectors:
    print(f"{name} = {value.hex() if value else '(needs the cryptography package)'}")
