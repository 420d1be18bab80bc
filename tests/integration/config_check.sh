#!/usr/bin/env bash
# config_check.sh - `neoedge config check|default` on good and bad files.
. "$(dirname "$0")/lib.sh"
it_setup

# The embedded default is itself a valid config file.
"$NEOEDGE_BIN" config default >default.yaml; rc=$?
it_eq "config default exits 0" "$rc" 0
it_expect "config default prints YAML with storage" grep -q '^storage:' default.yaml
out=$("$NEOEDGE_BIN" config check default.yaml); rc=$?
it_eq "config check of the default exits 0" "$rc" 0
it_eq "config check prints FILE: ok" "$out" "default.yaml: ok"

cat >good.yaml <<'YAML'
data_dir: ./data
storage:
  durability: sync
http:
  listen: 127.0.0.1:18086
YAML
out=$("$NEOEDGE_BIN" config check good.yaml); rc=$?
it_eq "good file exits 0" "$rc" 0
it_eq "good file is ok" "$out" "good.yaml: ok"

# explain: every value with its origin (file, environment, default).
out=$(NEOEDGE_HTTP_LISTEN=127.0.0.1:9999 "$NEOEDGE_BIN" config explain good.yaml); rc=$?
it_eq "config explain exits 0" "$rc" 0
it_expect "explain names the file as the origin" grep -Eq 'durability: sync +# file good\.yaml:3' <<<"$out"
it_expect "explain names the environment as the origin" grep -q 'listen: 127.0.0.1:9999  # env NEOEDGE_HTTP_LISTEN' <<<"$out"

# A misspelt key: file:line:col and a did-you-mean hint, one line, exit 1.
cat >typo.yaml <<'YAML'
storage:
  durabilty: sync
YAML
out=$("$NEOEDGE_BIN" config check typo.yaml 2>&1); rc=$?
it_eq "misspelt key exits 1" "$rc" 1
it_expect "message starts with typo.yaml:2:COL" grep -Eq '^typo\.yaml:2:[0-9]+: ' <<<"$out"
it_contains "message suggests the right key" "$out" "did you mean"
it_contains "message names durability" "$out" "durability"
it_eq "message is one line" "$(printf '%s\n' "$out" | wc -l)" 1

# A bad value: names the key and the valid values.
cat >badval.yaml <<'YAML'
storage:
  durability: sometimes
YAML
out=$("$NEOEDGE_BIN" config check badval.yaml 2>&1); rc=$?
it_eq "bad value exits 1" "$rc" 1
it_expect "bad value message has badval.yaml:2:COL" grep -Eq '^badval\.yaml:2:[0-9]+: ' <<<"$out"
it_contains "bad value message names the key" "$out" "storage.durability"

# Broken YAML syntax.
printf 'storage: [unclosed\n' >syntax.yaml
out=$("$NEOEDGE_BIN" config check syntax.yaml 2>&1); rc=$?
it_eq "broken YAML exits 1" "$rc" 1
it_expect "broken YAML message has file:line:col" grep -Eq '^syntax\.yaml:[0-9]+:[0-9]+: ' <<<"$out"

# A missing file.
out=$("$NEOEDGE_BIN" config check missing.yaml 2>&1); rc=$?
it_eq "missing file exits 1" "$rc" 1
it_contains "missing file is named" "$out" "missing.yaml"

# --explain: the verdict, then every effective value with its origin
# (file position, environment override, default, derived).
cat >explain.yaml <<'YAML'
storage:
  durability: sync
YAML
out=$(NEOEDGE_HTTP_LISTEN=127.0.0.1:18086 "$NEOEDGE_BIN" config check --explain explain.yaml 2>&1)
rc=$?
it_eq "config check --explain exits 0" "$rc" 0
it_contains "it says ok first" "$(head -1 <<<"$out")" "explain.yaml: ok"
it_expect "a value from the file names its position" \
  grep -Eq '^  durability: sync +# file explain\.yaml:2:3' <<<"$out"
it_expect "an environment override names its variable" \
  grep -Eq 'listen: "?127\.0\.0\.1:18086"? +# env NEOEDGE_HTTP_LISTEN' <<<"$out"
it_expect "a default says so" grep -Eq '^  max_loss: 100ms +# default' <<<"$out"
out=$("$NEOEDGE_BIN" config check --explain typo.yaml 2>&1); rc=$?
it_eq "config check --explain on a broken file exits 1" "$rc" 1
it_expect "and prints no config" bash -c "! grep -q '# default' <<<\"\$1\"" _ "$out"

# `run` with a broken config exits non-zero with the same one line and
# starts nothing (no data dir created).
out=$("$NEOEDGE_BIN" run --config typo.yaml --data-dir ./never 2>&1); rc=$?
it_eq "run with a broken config exits 1" "$rc" 1
it_contains "run prints the config error" "$out" "did you mean"
it_expect "run with a broken config created no data dir" test ! -e ./never

it_done
