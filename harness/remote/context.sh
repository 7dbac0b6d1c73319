# hosts.Host.context: run on the host as `sh -c <this> c10k [ADDRESS]`.
# Host context: one key=value per line; nic=NAME DRIVER MTU SPEED STATE.
echo "kernel=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "machine=$(uname -m)"
echo "hostname=$(uname -n)"
echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "nproc=$(nproc)"
echo "cpus_online=$(getconf _NPROCESSORS_ONLN)"
echo "cpus_allowed=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)"
echo "nofile_soft=$(ulimit -Sn)"
echo "nofile_hard=$(ulimit -Hn)"
echo "mem_total_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "somaxconn=$(cat /proc/sys/net/core/somaxconn)"
echo "ip_local_port_range=$(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' ' ')"
echo "python3=$(command -v python3)"
for d in /sys/class/net/*; do
  n=${d##*/}; [ "$n" = lo ] && continue
  drv=-; [ -e "$d/device/driver" ] && drv=$(basename "$(readlink -f "$d/device/driver")")
  f=""; for x in mtu speed operstate; do f="$f $(cat "$d/$x" 2>/dev/null || echo -)"; done
  echo "nic=$n $drv$f"
  echo "nickind=$n $(ip -j -d link show dev "$n" 2>/dev/null)"
done
[ -n "$1" ] && echo "route=$(ip -o route get "$1" 2>/dev/null | head -n 1)"
true
