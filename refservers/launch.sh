# launch.sh - what the reference rows' launchers (refservers/echo_<model>) share,
# sourced by each: a missing runtime exits 77 naming its Debian package (the
# harness and the tests then skip the row), and a server is built into
# build/<model>/ on first use and again when a source is newer than the build.
# Each launcher then execs its server, so the server's PID is the launcher's and
# SIGTERM reaches the runtime directly.
# shellcheck shell=sh disable=SC2034  # (the launchers read what it sets)

row=${0##*/}                                   # echo_<model>: the messages' prefix
dir=$(cd "$(dirname "$0")" && pwd)             # refservers/
out="$(dirname "$dir")/build/${row#echo_}"     # build/<model>/

# need "TOOL..." PACKAGE WHY: $tool is the first TOOL on PATH; none: exit 77.
need() {
	for t in $1; do
		tool=$(command -v "$t") && return 0
	done
	echo "$row: ${1%% *} not found: install Debian's $2 to $3" >&2
	exit 77
}

# stale TARGET SOURCE...: TARGET is missing or older than a SOURCE.
stale() {
	target=$1
	shift
	[ -e "$target" ] || return 0
	for s; do
		[ "$s" -nt "$target" ] && return 0
	done
	return 1
}

# build WHAT CMD...: run CMD... TMP, which builds into the empty folder TMP,
# then move what it built into $out: built aside and renamed, so a launcher
# started meanwhile never runs half a build. A failure exits 1 naming WHAT.
build() {
	what=$1
	shift
	mkdir -p "$out" || exit 1
	tmp=$(mktemp -d "$out/.build.XXXXXX") || exit 1
	if ! "$@" "$tmp" >&2; then
		rm -rf "$tmp"
		echo "$row: $what failed" >&2
		exit 1
	fi
	mv -f "$tmp"/* "$out"/ && rm -rf "$tmp"
}

# ---- the Java rows ---------------------------------------------------------------
# The JVM settings every Java row runs with: IPv4 sockets as the C servers; the
# serial GC, so no GC threads compete for the CPUs; a 256 MiB heap; no
# hsperfdata file in /tmp.
JVM_FLAGS="-Djava.net.preferIPv4Stack=true -XX:+UseSerialGC -Xmx256m -XX:-UsePerfData"

# java_build CLASS [CLASSPATH]: refservers/CLASS.java and the contract it shares
# with the other Java rows (EchoContract.java), compiled into $out when a class
# is missing or older than either source; $java is the JVM to exec.
java_build() {
	need java openjdk-17-jre-headless "run this row"
	java=$tool
	if stale "$out/$1.class" "$dir/$1.java" "$dir/EchoContract.java" ||
		stale "$out/EchoContract.class" "$dir/EchoContract.java"; then
		need javac openjdk-17-jdk-headless "build $dir/$1.java"
		build "javac on $dir/$1.java" javac_into "$1" "${2:-}"
	fi
}

javac_into() {   # CLASS CLASSPATH TMP (with need javac's $tool)
	"$tool" -Xlint:all,-processing ${2:+-cp "$2"} -d "$3" "$dir/$1.java" "$dir/EchoContract.java"
}
