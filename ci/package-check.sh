#!/usr/bin/env bash
# The packages work: build them (make package), install the .deb with dpkg -i on this
# machine, run the installed migrator --version and man migrator, list the .rpm with
# rpm -qpl; then remove the package again. Root only (dpkg -i); needs man-db and rpm.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "package-check: needs root (dpkg -i)" >&2
	exit 2
fi
make package
deb=$(ls -t dist/migrator_*.deb | head -1)
rpm=$(ls -t dist/migrator-*.rpm | head -1)
fail() { echo "package-check: FAIL: $*" >&2; exit 1; }

# The .rpm holds what the .deb holds.
want="/usr/bin/migrator /usr/share/man/man1/migrator.1.gz /usr/share/man/man1/migrator-plan.1.gz
/usr/share/bash-completion/completions/migrator /usr/share/migrator/templates/job.sbatch.tmpl"
rpmfiles=$(rpm -qpl "$rpm")
debfiles=$(dpkg-deb -c "$deb")
for f in $want; do
	grep -qx "$f" <<<"$rpmfiles" || fail "$rpm lacks $f"
	grep -q " \.$f\$" <<<"$debfiles" || fail "$deb lacks $f"
done
if [ -d monitoring ]; then
	grep -q '^/usr/share/migrator/monitoring/' <<<"$rpmfiles" || fail "$rpm lacks monitoring/"
fi

trap 'dpkg -r migrator >/dev/null 2>&1 || true' EXIT
# Slim Debian images exclude /usr/share/man from every package (dpkg.cfg.d path-exclude);
# an include on the command line comes after and wins, for our pages only.
dpkg -i --path-include='/usr/share/man/man1/migrator*' "$deb" >/dev/null
[ "$(command -v migrator)" = /usr/bin/migrator ] || fail "migrator is not /usr/bin/migrator after dpkg -i"
v=$(/usr/bin/migrator --version) || fail "migrator --version exited $?"
[ -n "$v" ] || fail "migrator --version printed nothing"
page=$(man -w migrator) || fail "man -w migrator found no page"
[ "$page" = /usr/share/man/man1/migrator.1.gz ] || fail "man -w migrator: $page"
text=$(MANWIDTH=100 man migrator 2>&1) || fail "man migrator exited $?"
for cmd in plan work collect status pause resume cancel throttle retry report; do
	grep -q "migrator $cmd" <<<"$text" || fail "man migrator does not list $cmd"
done
MANWIDTH=100 man migrator-plan | grep -q -- '--osts=LIST' || fail "man migrator-plan lacks --osts"
echo "package-check: OK: $deb installs migrator $v with its man pages; $rpm lists the same files"
