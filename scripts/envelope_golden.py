#!/usr/bin/env python3
"""Open the golden envelopes of crates/crypto/tests/envelope_golden.rs independently.

Run: python3 scripts/envelope_golden.py   (needs the `cryptography` package)
It reads the REQUEST, RESPONSE and SESSION_MESSAGE hex from the Rust test, derives each
key as `fat_crypto::envelope` documents it (X25519 with the recipient secret 42.., then
HKDF-SHA256 with salt label || ephemeral || recipient and info label || direction ||
ephemeral || recipient || contract) and opens each ciphertext with XChaCha20-Poly1305
(HChaCha20 written out here, ChaCha20-Poly1305 from `cryptography`), the borsh header as
associated data. It prints each plaintext and fails unless they are hello, world, again.
"""

import re
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL = b"fat/envelope/kdf/v1"
RECIPIENT_SECRET = bytes([0x42] * 32)
GOLDEN = Path(__file__).resolve().parent.parent / "crates/crypto/tests/envelope_golden.rs"


def golden(name: str) -> bytes:
    text = GOLDEN.read_text()
    body = re.search(rf"const {name}: &str = concat!\((.*?)\);", text, re.S).group(1)
    return bytes.fromhex("".join(re.findall(r'"([0-9a-f]*)"', body)))


def rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """The XChaCha20 subkey (draft-irtf-cfrg-xchacha, section 2.2)."""
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def quarter(a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        quarter(0, 4, 8, 12); quarter(1, 5, 9, 13); quarter(2, 6, 10, 14); quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15); quarter(1, 6, 11, 12); quarter(2, 7, 8, 13); quarter(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def open_envelope(data: bytes) -> bytes:
    # Header: contract 32, direction 1, sender 32, recipient 32, ephemeral 32, nonce 24,
    # timestamp 8; then the ciphertext as a u32 length and its bytes.
    header = data[:161]
    contract, direction = header[0:32], header[32:33]
    recipient, ephemeral, nonce = header[65:97], header[97:129], header[129:153]
    (length,) = struct.unpack("<I", data[161:165])
    ciphertext = data[165 : 165 + length]

    secret = X25519PrivateKey.from_private_bytes(RECIPIENT_SECRET)
    assert secret.public_key().public_bytes_raw() == recipient, "another recipient"
    shared = secret.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=LABEL + ephemeral + recipient,
        info=LABEL + direction + ephemeral + recipient + contract,
    ).derive(shared)
    subkey = hchacha20(key, nonce[:16])
    return ChaCha20Poly1305(subkey).decrypt(b"\0" * 4 + nonce[16:], ciphertext, header)


failed = False
for name, expected in [("REQUEST", b"hello"), ("RESPONSE", b"world"), ("SESSION_MESSAGE", b"again")]:
    plaintext = open_envelope(golden(name))
    print(f"{name}: {plaintext!r}")
    failed |= plaintext != expected
sys.exit(1 if failed else 0)
