#!/usr/bin/env bash
# decrypt.sh CRYPT_TOOL - `neoedge decrypt` on envelopes sealed by the
# library (CRYPT_TOOL, tests/integration/crypt_tool.c) and by an
# independent implementation of the documented format (crypt_interop.py,
# Python cryptography): round trips compared with cmp, the key from a
# file, the command line and the environment, refusal to overwrite, and a
# wrong key, a tampered and a truncated object failing with a clear
# message, exit 1 and no output.
. "$(dirname "$0")/lib.sh"
TOOL=${1:?usage: decrypt.sh CRYPT_TOOL}
INTEROP="$(cd "$(dirname "$0")" && pwd)/crypt_interop.py"
it_setup

if ! "$PY" -c 'import cryptography.hazmat.primitives.ciphers.aead' 2>/dev/null; then
  echo "python3-cryptography is not installed (scripts/deps.sh installs it)" >&2
  exit 1
fi

key=$("$PY" -c 'import os; print(os.urandom(32).hex())')
other=$("$PY" -c 'import os; print(os.urandom(32).hex())')
printf '%s\n' "$key" >key.txt
mkdir src
# 3.5 chunks of 1 MiB, a 1-byte file and an empty file.
head -c $((3 * 1048576 + 524288)) /dev/urandom >src/data.bin
printf 'x' >src/one.bin
: >src/empty.bin

# Sealed by the library, opened by neoedge.
for f in data one empty; do
  "$TOOL" encrypt "$key" "src/$f.bin" "$f.bin.enc"
  it_eq "crypt_tool seals $f.bin" "$?" 0
done
"$NEOEDGE_BIN" decrypt --key-file key.txt data.bin.enc 2>dec.err; rc=$?
it_eq "decrypt with --key-file exits 0" "$rc" 0
it_expect "the output defaults to INPUT without .enc and equals the plaintext" cmp -s data.bin src/data.bin
"$NEOEDGE_BIN" decrypt --key "$key" one.bin.enc 2>/dev/null; rc=$?
it_eq "decrypt with --key exits 0" "$rc" 0
it_expect "a 1-byte object round-trips" cmp -s one.bin src/one.bin
NEOEDGE_DECRYPT_KEY=$key "$NEOEDGE_BIN" decrypt --out empty.out empty.bin.enc 2>/dev/null; rc=$?
it_eq "decrypt with the key from NEOEDGE_DECRYPT_KEY exits 0" "$rc" 0
it_expect "an empty object round-trips to --out" cmp -s empty.out src/empty.bin

# An existing output is kept unless --force.
echo keep >one.bin
"$NEOEDGE_BIN" decrypt --key-file key.txt one.bin.enc 2>exists.err; rc=$?
it_eq "decrypt over an existing file exits 1" "$rc" 1
it_contains "it names the file and --force" "$(cat exists.err)" "one.bin exists; use --force"
it_eq "the existing file is untouched" "$(cat one.bin)" "keep"
"$NEOEDGE_BIN" decrypt --key-file key.txt --force one.bin.enc 2>/dev/null; rc=$?
it_eq "decrypt --force exits 0" "$rc" 0
it_expect "--force replaced it" cmp -s one.bin src/one.bin

# A wrong key: exit 1, the key ids named, nothing written.
rm -f data.bin
"$NEOEDGE_BIN" decrypt --key "$other" data.bin.enc 2>wrong.err; rc=$?
it_eq "decrypt with a wrong key exits 1" "$rc" 1
it_contains "it says wrong key" "$(cat wrong.err)" "data.bin.enc: wrong key (the file needs key id"
it_expect "no output after a wrong key" test ! -e data.bin -a ! -e data.bin.tmp

# A flipped byte in chunk 2, then a cut at the end of chunk 1.
"$PY" - data.bin.enc tampered.bin.enc <<'EOF'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[26 + 2 * (1048576 + 16) + 1000] ^= 0x20
open(sys.argv[2], "wb").write(d)
EOF
"$NEOEDGE_BIN" decrypt --key-file key.txt tampered.bin.enc 2>tamper.err; rc=$?
it_eq "decrypt of a tampered object exits 1" "$rc" 1
it_contains "it names the chunk" "$(cat tamper.err)" "truncated or tampered at chunk 2 of 4"
it_expect "no output after tampering" test ! -e tampered.bin -a ! -e tampered.bin.tmp
head -c $((26 + 2 * (1048576 + 16))) data.bin.enc >cut.bin.enc
"$NEOEDGE_BIN" decrypt --key-file key.txt cut.bin.enc 2>cut.err; rc=$?
it_eq "decrypt of a truncated object exits 1" "$rc" 1
it_contains "it says truncated or tampered" "$(cat cut.err)" "truncated or tampered at chunk 1 of 2"
it_expect "no output after truncation" test ! -e cut.bin

# Not an envelope, a bad key, no key, no .enc suffix.
"$NEOEDGE_BIN" decrypt --key-file key.txt --out x src/data.bin 2>foreign.err; rc=$?
it_eq "decrypt of a plain file exits 1" "$rc" 1
it_contains "it says so" "$(cat foreign.err)" "not a neoedge encrypted file"
"$NEOEDGE_BIN" decrypt --key "${key}0" data.bin.enc 2>badkey.err; rc=$?
it_eq "a 65-digit key exits 1" "$rc" 1
it_contains "the key problem is named" "$(cat badkey.err)" "bad key in --key: expected 64 hex digits (32 bytes), got 65 characters"
env -u NEOEDGE_DECRYPT_KEY "$NEOEDGE_BIN" decrypt data.bin.enc 2>nokey.err; rc=$?
it_eq "no key is a usage error" "$rc" 2
it_contains "it lists the key sources" "$(cat nokey.err)" "NEOEDGE_DECRYPT_KEY"
cp data.bin.enc sealed.obj
"$NEOEDGE_BIN" decrypt --key-file key.txt sealed.obj 2>nosuffix.err; rc=$?
it_eq "an input without .enc and no --out is a usage error" "$rc" 2
it_contains "it asks for --out" "$(cat nosuffix.err)" "name the output with --out"

# Interoperability: Python opens what neoedge seals ...
rm -f data.bin
"$PY" "$INTEROP" decrypt "$key" data.bin.enc py.out >py.log 2>&1; rc=$?
it_eq "Python cryptography opens a neoedge envelope" "$rc" 0
it_contains "it saw 4 chunks" "$(cat py.log)" "4 chunks, 3670016 bytes"
it_expect "Python's plaintext equals the original" cmp -s py.out src/data.bin
"$PY" "$INTEROP" decrypt "$key" empty.bin.enc py-empty.out >/dev/null 2>&1; rc=$?
it_eq "Python opens an empty object's envelope" "$rc" 0
# ... and neoedge opens what Python seals from the format text (odd chunk sizes too).
for chunk in 1000 1048576; do
  "$PY" "$INTEROP" encrypt "$key" src/data.bin "py$chunk.bin.enc" "$chunk"
  "$NEOEDGE_BIN" decrypt --key-file key.txt "py$chunk.bin.enc" 2>/dev/null; rc=$?
  it_eq "neoedge opens a Python envelope with $chunk-byte chunks" "$rc" 0
  it_expect "its plaintext equals the original ($chunk-byte chunks)" cmp -s "py$chunk.bin" src/data.bin
done

it_done
