# hosts.Host.kill: run on the host as `sh -c <this> c10k PGID:SID...`.
# Kill sessions "pgid:sid ..." and say which still have processes after 3 s.
for ps in "$@"; do
  kill -KILL -- "-${ps%%:*}" 2>/dev/null; pkill -KILL -s "${ps##*:}" 2>/dev/null
done
i=0
while [ $i -lt 30 ]; do
  left=""
  for ps in "$@"; do pgrep -s "${ps##*:}" >/dev/null 2>&1 && left="$left ${ps##*:}"; done
  [ -z "$left" ] && break
  for ps in $left; do pkill -KILL -s "$ps" 2>/dev/null; done
  sleep 0.1; i=$((i + 1))
done
echo "C10K-LEFT$left"
