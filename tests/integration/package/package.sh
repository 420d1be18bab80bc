#!/usr/bin/env bash
# package.sh - the Debian package: built by CPack from this build tree,
# inspected (files, modes, conffile, dependencies, stripped binary, unit
# directives), installed into a scratch root with `dpkg --root` (maintainer
# scripts run chrootless with DPKG_ROOT, adduser/chown/deluser replaced by
# recorders on PATH so the host is never touched), reinstalled over a
# modified conffile, and purged. Also: the completion script completes and
# the man page renders.
# Usage: package.sh CPACK CMAKE
. "$(dirname "$0")/../lib.sh"
: "${NEOEDGE_BUILD:?}"
CPACK=${1:?cpack} CMAKE=${2:?cmake}
it_setup

for tool in dpkg dpkg-deb dpkg-shlibdeps readelf groff; do
  command -v "$tool" >/dev/null || { it_fail "$tool is not installed"; it_done; }
done

# ---- build ------------------------------------------------------------------
# The generated files are part of the default build; build them only when
# they are missing or older than the binary (e.g. after `--target neoedge`).
gen="$NEOEDGE_BUILD/packaging"
stale=0
for f in neoedge.yaml neoedge.bash neoedge.1.gz; do
  [ -f "$gen/$f" ] && [ ! "$NEOEDGE_BIN" -nt "$gen/$f" ] || stale=1
done
if [ "$stale" = 1 ]; then
  "$CMAKE" --build "$NEOEDGE_BUILD" --target ne_package_files >build.log 2>&1 ||
    { cat build.log >&2; it_fail "ne_package_files did not build"; it_done; }
fi
"$CPACK" -G DEB -B "$IT_DIR/out" --config "$NEOEDGE_BUILD/CPackConfig.cmake" >cpack.log 2>&1 ||
  { cat cpack.log >&2; it_fail "cpack failed"; it_done; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$NEOEDGE_BUILD/CPackConfig.cmake")
arch=$(dpkg --print-architecture)
deb="$IT_DIR/out/neoedge_${version}_${arch}.deb"
it_expect "package is named neoedge_${version}_${arch}.deb" test -f "$deb"
[ -f "$deb" ] || it_done

# ---- contents ---------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >listing
want_file() { # mode path
  it_expect "$2 is in the package with mode $1, owned by root" grep -qxF -e "$1 root/root .$2" listing
}
want_file -rwxr-xr-x /usr/bin/neoedge
want_file -rw-r--r-- /etc/neoedge/neoedge.yaml
want_file -rw-r--r-- /lib/systemd/system/neoedge.service
want_file -rw-r--r-- /usr/share/bash-completion/completions/neoedge
want_file -rw-r--r-- /usr/share/man/man1/neoedge.1.gz
want_file -rw-r--r-- /usr/share/doc/neoedge/copyright
it_eq "no file outside the expected ones" "$(grep -c '^-' listing)" 6

depends=$(dpkg-deb -f "$deb" Depends)
for lib in adduser libyaml-0-2 liburing2 libpaho-mqtt1.3 libcoap3 libmbedtls14 \
  libmbedcrypto7 libzstd1 libcurl4 libmicrohttpd12 zlib1g; do
  it_contains "Depends names $lib" "$depends" "$lib"
done
it_eq "Package field" "$(dpkg-deb -f "$deb" Package)" neoedge

mkdir ctl && dpkg-deb -e "$deb" ctl
it_eq "the config is the only conffile" "$(cat ctl/conffiles)" /etc/neoedge/neoedge.yaml
for s in postinst prerm postrm; do
  it_expect "$s is executable and valid sh" bash -c "test -x ctl/$s && sh -n ctl/$s"
done

# ---- install into a scratch root ----------------------------------------------
R="$IT_DIR/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
: >"$R/var/lib/dpkg/status"
fake="$IT_DIR/fakebin"
mkdir -p "$fake"
for c in adduser chown deluser delgroup; do
  printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$c" "$IT_DIR" >"$fake/$c"
done
# getent: the user exists once the recorded adduser ran.
printf '#!/bin/sh\ngrep -q "^adduser .* neoedge$" "%s/calls" 2>/dev/null || exit 2\necho "neoedge:x:999:999::/var/lib/neoedge:/usr/sbin/nologin"\n' \
  "$IT_DIR" >"$fake/getent"
chmod +x "$fake"/*
dpkg_root() {
  PATH="$fake:$PATH" dpkg --root="$R" --force-depends --force-not-root --force-script-chrootless \
    --log=/dev/null "$@"
}
dpkg_root -i "$deb" >install.log 2>&1
it_eq "dpkg -i exit code" "$?" 0
it_contains "dpkg reports the package installed" "$(dpkg --root="$R" -s neoedge 2>&1)" \
  "Status: install ok installed"
it_expect "postinst created the system user" \
  grep -qx 'adduser --system --group --home /var/lib/neoedge --no-create-home --quiet --gecos neoedge daemon neoedge' calls
it_expect "postinst handed the data dir to neoedge" grep -qx "chown neoedge:neoedge $R/var/lib/neoedge" calls
it_eq "data dir mode" "$(stat -c %a "$R/var/lib/neoedge")" 750
it_eq "unit enabled for multi-user.target" \
  "$(readlink "$R/etc/systemd/system/multi-user.target.wants/neoedge.service")" \
  /lib/systemd/system/neoedge.service
it_expect "binary is stripped (no .symtab)" bash -c "! readelf -S '$R/usr/bin/neoedge' | grep -q '\.symtab'"
it_contains "installed binary runs" "$("$R/usr/bin/neoedge" version 2>&1)" "neoedge "

cfg="$R/etc/neoedge/neoedge.yaml"
it_expect "config data_dir is /var/lib/neoedge" grep -qx 'data_dir: /var/lib/neoedge' "$cfg"
it_contains "installed config validates" "$("$NEOEDGE_BIN" config check "$cfg" 2>&1)" ": ok"
sed 's|^data_dir: .*|data_dir: ./data|' "$cfg" | grep -v '^data_dir:' >expect.yaml
"$NEOEDGE_BIN" config default | grep -v '^data_dir:' >default.yaml
it_expect "config is \`neoedge config default\` apart from data_dir" cmp -s expect.yaml default.yaml

# ---- the unit -----------------------------------------------------------------
unit="$R/lib/systemd/system/neoedge.service"
directive() { # KEY: its value in [Service] (last one wins, as in systemd)
  awk -v k="$1" '/^\[/{s=($0=="[Service]")} s && index($0, k"=")==1 {v=substr($0, length(k)+2)} END{print v}' "$unit"
}
want() { it_eq "unit $1" "$(directive "$1")" "$2"; }
want Type notify
want ExecStart "/usr/bin/neoedge run --config /etc/neoedge/neoedge.yaml"
want ExecReload '/bin/kill -HUP $MAINPID'
want Restart on-failure
want RestartSec 2
want User neoedge
want Group neoedge
want NoNewPrivileges yes
want ProtectSystem strict
want ReadWritePaths /var/lib/neoedge
want PrivateTmp yes
want ProtectHome yes
want ProtectKernelTunables yes
want ProtectKernelModules yes
want ProtectControlGroups yes
want RestrictAddressFamilies "AF_INET AF_INET6 AF_UNIX"
want CapabilityBoundingSet ""
want AmbientCapabilities ""
want LimitNOFILE 65536
want StateDirectory neoedge
want TimeoutStopSec 30
it_expect "CapabilityBoundingSet is present (and empty)" grep -qx 'CapabilityBoundingSet=' "$unit"
if command -v systemd-analyze >/dev/null; then
  # verify resolves ExecStart on this host: point it at the installed binary.
  sed "s|^ExecStart=/usr/bin/neoedge|ExecStart=$R/usr/bin/neoedge|" "$unit" >neoedge.service
  it_expect "systemd-analyze verify accepts the unit" \
    env MANPATH="$R/usr/share/man" systemd-analyze verify "$IT_DIR/neoedge.service"
fi

# ---- completion and man page ------------------------------------------------------
comp="$R/usr/share/bash-completion/completions/neoedge"
it_expect "completion script is valid bash" bash -n "$comp"
complete_words() { # words...: what the completion offers for the last word
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _neoedge; echo "${COMPREPLY[*]}"' _ "$comp" "$@"
}
it_eq "completes the command" "$(complete_words neoedge conf)" config
it_eq "completes a group's subcommands" "$(complete_words neoedge config "")" "check default explain"
it_eq "completes a command's options" "$(complete_words neoedge query --fo)" --format
it_eq "lists the hidden helpers too" "$(complete_words neoedge comp)" completion
mkdir -p cdir && touch cdir/one.yaml
it_eq "completes file names after --config" "$(cd cdir && complete_words neoedge run --config on)" one.yaml

help=$("$NEOEDGE_BIN" --help)
it_contains "--help lists completion" "$help" "completion "
it_contains "--help lists man" "$help" "  man "

man1="$R/usr/share/man/man1/neoedge.1.gz"
gzip -dc "$man1" | groff -man -Tutf8 -ww >man.txt 2>man.err
it_eq "man page renders without groff warnings" "$(cat man.err)" ""
for sec in NAME SYNOPSIS DESCRIPTION COMMANDS FILES ENVIRONMENT SIGNALS "EXIT STATUS"; do
  it_expect "man page has a $sec section" grep -q "^$sec" <(sed 's/.\x08//g' man.txt)
done
it_expect "man page documents every command of --help" bash -c '
  for c in $("'"$NEOEDGE_BIN"'" --help | sed -n "s/^  \([a-z]*\) .*/\1/p"); do
    grep -q "neoedge $c" <(sed "s/.\x08//g" man.txt) || { echo "missing: $c" >&2; exit 1; }
  done'
if command -v man >/dev/null; then
  it_contains "man -l renders it" "$(MANWIDTH=80 man -l "$man1" 2>/dev/null | sed 's/.\x08//g')" "neoedge - IoT edge"
fi

# ---- reinstall over a changed conffile, then purge ---------------------------------
echo "# operator change" >>"$cfg"
dpkg_root --force-confold -i "$deb" >reinstall.log 2>&1
it_eq "reinstall exit code" "$?" 0
it_expect "reinstall keeps the operator's conffile" grep -qx '# operator change' "$cfg"
echo "precious" >"$R/var/lib/neoedge/points"
dpkg_root --purge neoedge >purge.log 2>&1
it_eq "purge exit code" "$?" 0
it_expect "purge removed the binary" test ! -e "$R/usr/bin/neoedge"
it_expect "purge removed the conffile" test ! -e "$cfg"
it_expect "purge removed the unit's enablement" \
  test ! -e "$R/etc/systemd/system/multi-user.target.wants/neoedge.service"
it_expect "purge removed the user" grep -q '^deluser --system --quiet neoedge' calls
it_eq "purge keeps the data" "$(cat "$R/var/lib/neoedge/points")" precious
it_expect "purge says the data was kept" grep -q 'data in /var/lib/neoedge was kept' purge.log
it_done
