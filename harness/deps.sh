#!/bin/sh
# deps.sh - check the Debian packages c10k-bench needs; as root, install the
# missing ones with apt-get. Nothing is fetched from anywhere else.
set -u
PKGS="gcc make libc6-dev pkg-config liburing-dev libaio-dev libevent-dev libev-dev
libuv1-dev check python3 gnuplot-nox hyperfine valgrind strace util-linux procps
clang-tidy cppcheck perl linux-perf openssh-client openssh-server iproute2 python3-pytest python3-yaml
python3-scipy
pyflakes3"

# shellcheck source=harness/apt-ensure.sh
. "$(dirname "$0")/apt-ensure.sh"
# shellcheck disable=SC2086
ensure_pkgs deps $PKGS
