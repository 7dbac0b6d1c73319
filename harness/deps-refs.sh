#!/bin/sh
# deps-refs.sh - the Debian packages of the reference rows in refservers/
# (other runtimes than C): check them and, as root, install the missing ones
# with apt-get. Only when asked (`make deps-refs`): `make test` and
# `make bench` need none of them, and a row whose runtime is missing is
# skipped with the package to install (its launcher exits 77).
#
#   sh harness/deps-refs.sh              every row
#   sh harness/deps-refs.sh go erlang    only these rows (commas work too)
#   sh harness/deps-refs.sh --list       print "row: packages" and exit
#
# Nothing is fetched from anywhere but Debian's registry.
set -u

# row -> Debian packages (bookworm names); each launcher names the same ones.
pkgs_of() {
	case $1 in
	node)      echo "nodejs" ;;
	java)      echo "openjdk-17-jdk-headless" ;;
	java_nio2) echo "openjdk-17-jdk-headless" ;;
	netty)     echo "openjdk-17-jdk-headless libnetty-java" ;;
	go)        echo "golang-go" ;;
	erlang)    echo "erlang-nox" ;;
	*)         return 1 ;;
	esac
}
ROWS="node java java_nio2 netty go erlang"

if [ "${1:-}" = "--list" ]; then
	for r in $ROWS; do echo "$r: $(pkgs_of "$r")"; done
	exit 0
fi
want=$(echo "$*" | tr ',' ' ')
[ -n "$want" ] || want=$ROWS

pkgs=""
for r in $want; do
	p=$(pkgs_of "$r") || {
		echo "deps-refs: unknown reference row '$r' (rows: $ROWS)" >&2
		exit 2
	}
	pkgs="$pkgs $p"
done

# shellcheck source=harness/apt-ensure.sh
. "$(dirname "$0")/apt-ensure.sh"
# shellcheck disable=SC2086
ensure_pkgs deps-refs $pkgs
