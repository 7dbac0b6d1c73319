# hosts.Host.deploy: run on the host as `sh -c <this> c10k DEST`, the tar on stdin.
# deploy(): unpack the suite's tar (stdin) into $1.new, then swap it in:
# the old folder goes only once the new one is whole.
d=$1
rm -rf "$d.new" && mkdir -p "$d.new" && tar -x -C "$d.new" && rm -rf "$d" && mv "$d.new" "$d"
