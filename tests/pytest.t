#!/bin/sh
# pytest.t - the harness's unit tests (tests/py, pytest from Debian's
# python3-pytest) as one TAP line for prove; pytest's own report as comments.
cd "$(dirname "$0")/.." || exit 1
py=${DEB_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import pytest' 2>/dev/null; then
	echo "1..0 # SKIP $py has no pytest (apt-get install python3-pytest; make deps does)"
	exit 0
fi
out=$("$py" -m pytest -q -p no:cacheprovider tests/py 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
last=$(printf '%s\n' "$out" | tail -n 1)
if [ $rc -eq 0 ]; then
	echo "ok 1 - pytest tests/py: $last"
else
	echo "not ok 1 - pytest tests/py (exit $rc): $last"
fi
echo "1..1"
