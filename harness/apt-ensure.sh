# shellcheck shell=sh
# apt-ensure.sh - sourced by deps.sh and deps-refs.sh: ensure_pkgs WHO PKG...
# checks the Debian packages and, as root, installs the missing ones with
# apt-get (Debian's registry only). WHO prefixes every message. Returns 0 when
# all are installed, 1 when some are missing and cannot be installed.
ensure_pkgs() {
	who=$1
	shift
	missing=""
	for p in $(printf '%s\n' "$@" | sort -u); do
		s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
		[ "$s" = installed ] || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0

	echo "$who: missing Debian packages:$missing" >&2
	if [ "$(id -u)" -ne 0 ]; then
		echo "$who: run as root: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
		return 1
	fi
	echo "$who: installing them with apt-get (Debian's registry only)" >&2
	DEBIAN_FRONTEND=noninteractive
	export DEBIAN_FRONTEND
	apt-get update -qq >&2 || { echo "$who: apt-get update failed" >&2; return 1; }
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2 ||
		{ echo "$who: apt-get install$missing failed" >&2; return 1; }
}
