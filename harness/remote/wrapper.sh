# hosts.Host.start: run on the host as `sh -c <this> c10k CWD KEEP ARGV...`.
# The remote side of start(): record pid, group and session, start the
# watchdog (double fork: it must not be the command's child, a prefork
# server reaps its children), then become the command. $1 = cwd, $2 = 1 when
# the command keeps the channel's stdin (then it ends at EOF itself).
read -r _ _ _ _ pgid sid _ < /proc/$$/stat
echo "C10K-PID $$ $pgid $sid" >&2
echo C10K-BEGIN
cd "$1" || exit 127
keep=$2; shift 2
if [ "$keep" = 1 ]; then exec "$@"; fi
exec 3<&0
( setsid sh -c 'cat >/dev/null; kill -KILL -- "-$1" 2>/dev/null; pkill -KILL -s "$2" 2>/dev/null' \
    c10k-watchdog "$pgid" "$sid" <&3 >/dev/null 2>&1 & )
exec 3<&-
exec "$@" </dev/null
