#!/usr/bin/env bash
# Installs what ocsf-collector needs on Debian 12 (as root), only what is missing.
#   deploy/install-deps.sh          build and run
#   deploy/install-deps.sh --test   also what the test suite needs (cmocka, python3, clang + libFuzzer)
set -euo pipefail
pkgs=(cmake make gcc pkg-config libuv1-dev libjansson-dev libsqlite3-dev zlib1g-dev libssl-dev librdkafka-dev
      libcurl4-openssl-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(libcmocka-dev python3 clang libclang-rt-14-dev sqlite3 kcat
        rsyslog rsyslog-openssl openssl) # syslog sink tests: a real rsyslogd, TLS via the ossl driver
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
