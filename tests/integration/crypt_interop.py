#!/usr/bin/python3
"""crypt_interop.py - the encryption envelope of sync/crypt/crypt.h, written
from its format text with Python's `cryptography` AES-GCM, to prove that
what neoedge writes is what the format says and the other way round.

  crypt_interop.py decrypt KEYHEX ENVELOPE OUT     # envelope -> plaintext
  crypt_interop.py encrypt KEYHEX IN OUT CHUNK     # plaintext -> envelope

decrypt checks the header (magic, version, key id) and authenticates
every chunk; it exits 1 with the reason if anything is off.
"""
import hashlib
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"NEENC"
VERSION = 1
HEADER = 26
TAG = 16


def key_id(key):
    return hashlib.sha256(key).digest()[:8]


def header(chunk, prefix, key):
    return MAGIC + bytes([VERSION]) + chunk.to_bytes(4, "big") + prefix + key_id(key)


def nonce(prefix, index):
    return prefix + index.to_bytes(4, "big")


def decrypt(key, data):
    if len(data) < HEADER or data[:5] != MAGIC:
        sys.exit("not an envelope")
    if data[5] != VERSION:
        sys.exit("version %d" % data[5])
    hdr = data[:HEADER]
    chunk = int.from_bytes(hdr[6:10], "big")
    prefix = hdr[10:18]
    if hdr[18:26] != key_id(key):
        sys.exit("key id %s, ours %s" % (hdr[18:26].hex(), key_id(key).hex()))
    body = data[HEADER:]
    unit = chunk + TAG
    full, rem = divmod(len(body), unit)
    if len(body) == 0 or (rem and rem < TAG):
        sys.exit("size does not end on a chunk")
    sizes = [unit] * full + ([rem] if rem else [])
    aes = AESGCM(key)
    out, off = [], 0
    for i, n in enumerate(sizes):
        final = 1 if i == len(sizes) - 1 else 0
        try:
            out.append(aes.decrypt(nonce(prefix, i), body[off:off + n], hdr + bytes([final])))
        except InvalidTag:
            sys.exit("chunk %d does not authenticate" % i)
        off += n
    return b"".join(out), len(sizes)


def encrypt(key, plain, chunk):
    prefix = os.urandom(8)
    hdr = header(chunk, prefix, key)
    pieces = [plain[i:i + chunk] for i in range(0, len(plain), chunk)] or [b""]
    aes = AESGCM(key)
    out = [hdr]
    for i, piece in enumerate(pieces):
        final = 1 if i == len(pieces) - 1 else 0
        out.append(aes.encrypt(nonce(prefix, i), piece, hdr + bytes([final])))
    return b"".join(out)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    cmd, key = sys.argv[1], bytes.fromhex(sys.argv[2])
    with open(sys.argv[3], "rb") as f:
        data = f.read()
    if cmd == "decrypt":
        plain, chunks = decrypt(key, data)
        print("%d chunks, %d bytes" % (chunks, len(plain)))
    elif cmd == "encrypt":
        plain = encrypt(key, data, int(sys.argv[5]))
    else:
        sys.exit(__doc__)
    with open(sys.argv[4], "wb") as f:
        f.write(plain)


if __name__ == "__main__":
    main()
