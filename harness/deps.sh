#!/bin/sh
# deps.sh - check the Debian packages c10k-bench needs; as root, install the
# missing ones with apt-get. Nothing is fetched from anywhere else.
set -u
PKGS="gcc make libc6-dev pkg-config liburing-dev libaio-dev libevent-dev libev-dev
libuv1-dev check python3 gnuplot-nox hyperfine valgrind strace util-linux procps
clang-tidy cppcheck perl linux-perf openssh-client openssh-server iproute2 python3-pytest python3-yaml
pyflakes3"

missing=""
for p in $PKGS; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
	[ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run as root: apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing them with apt-get (Debian's registry only)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || { echo "deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2 ||
	{ echo "deps: apt-get install$missing failed" >&2; exit 1; }
