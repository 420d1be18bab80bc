#!/usr/bin/env bash
# cli.sh - `neoedge version`, help of every subcommand, usage errors.
. "$(dirname "$0")/lib.sh"
it_setup

out=$("$NEOEDGE_BIN" version); rc=$?
it_eq "version exits 0" "$rc" 0
it_expect "version prints 'neoedge X.Y.Z'" grep -Eq '^neoedge [0-9]+\.[0-9]+\.[0-9]+' <<<"$out"

for h in --help help; do
  out=$("$NEOEDGE_BIN" $h); rc=$?
  it_eq "neoedge $h exits 0" "$rc" 0
  it_contains "neoedge $h lists run" "$out" "run"
  it_contains "neoedge $h lists config check" "$out" "config check"
done

# Every command listed by --help has its own --help, and `help CMD` agrees.
cmds=$("$NEOEDGE_BIN" --help | sed -n 's/^  \([a-z][a-z ]*[a-z]\)  .*/\1/p' | sed 's/ *$//')
it_expect "the command list is not empty" test -n "$cmds"
while IFS= read -r cmd; do
  [ "$cmd" = help ] && continue
  # shellcheck disable=SC2086
  out=$("$NEOEDGE_BIN" $cmd --help); rc=$?
  it_eq "'$cmd --help' exits 0" "$rc" 0
  it_contains "'$cmd --help' shows its usage" "$out" "usage: neoedge $cmd"
  # shellcheck disable=SC2086
  out2=$("$NEOEDGE_BIN" help $cmd)
  it_eq "'help $cmd' equals '$cmd --help'" "$out2" "$out"
done <<<"$cmds"

out=$("$NEOEDGE_BIN" config --help); rc=$?
it_eq "config --help exits 0" "$rc" 0
it_contains "config --help lists config default" "$out" "config default"

"$NEOEDGE_BIN" frobnicate >/dev/null 2>"$IT_DIR/err"; rc=$?
it_eq "unknown command exits 2" "$rc" 2
it_contains "unknown command is named" "$(cat "$IT_DIR/err")" "frobnicate"

"$NEOEDGE_BIN" run --bogus >/dev/null 2>&1; rc=$?
it_eq "unknown option exits 2" "$rc" 2

"$NEOEDGE_BIN" config check >/dev/null 2>&1; rc=$?
it_eq "config check without FILE exits 2" "$rc" 2

"$NEOEDGE_BIN" >/dev/null 2>&1; rc=$?
it_eq "no command exits 2" "$rc" 2

it_done
