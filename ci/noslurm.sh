#!/usr/bin/env bash
# ci/noslurm.sh CMD [ARG...]: run CMD as on a machine without Slurm. In a private mount
# namespace, /dev/null is bind-mounted over every Slurm client found on PATH (so they are
# not executable, as if not installed), and SLURM_CONF and MIGRATOR_REQUIRE_SLURM are
# unset; MIGRATOR_EXPECT_NO_SLURM=1 tells the tests that check the hiding worked. Needs
# root (unshare -m); nothing outside the namespace sees the mounts, and they go with CMD.
# Not a user namespace (unshare -rm) for other users: there the user is uid 0 and root's
# files belong to uid 65534, so migrator's trust checks refuse every campaign and the tests
# that need root think they have it. Without root, or where no namespace can be made,
# Slurm's commands are left out of PATH instead (NOSLURM_NO_NAMESPACE=1 forces that way).
# Exits with CMD's status.
set -euo pipefail
if [ "$#" = 0 ]; then
	echo "usage: ci/noslurm.sh CMD [ARG...]" >&2
	exit 2
fi
# Every copy on PATH, not only the first, each by its real path (/bin may be /usr/bin).
hide=()
IFS=: read -ra dirs <<<"$PATH"
slurm="sbatch squeue scontrol scancel sinfo srun salloc sacct sattach sbcast sprio sshare sstat strigger"
for c in $slurm; do
	for d in "${dirs[@]}"; do
		if [ -f "${d:-.}/$c" ] && [ -x "${d:-.}/$c" ]; then
			hide+=("$(readlink -f "${d:-.}/$c")")
		fi
	done
done
if [ "${#hide[@]}" -gt 0 ]; then
	mapfile -t hide < <(printf '%s\n' "${hide[@]}" | sort -u)
fi
ns=(unshare -m --propagation private)
if [ -z "${NOSLURM_NO_NAMESPACE:-}" ] && [ "$(id -u)" = 0 ] && "${ns[@]}" true 2>/dev/null; then
	exec "${ns[@]}" env -u SLURM_CONF -u MIGRATOR_REQUIRE_SLURM MIGRATOR_EXPECT_NO_SLURM=1 \
		bash -c 'set -e; for p in "${@:2:$1}"; do mount --bind /dev/null "$p"; done; shift "$(($1 + 1))"; exec "$@"' \
		noslurm "${#hide[@]}" "${hide[@]}" "$@"
fi
# No namespace (an unprivileged container, say): a PATH of links to every command on PATH
# but Slurm's. Weaker (an absolute /usr/bin/squeue still runs), enough for the tests,
# which find Slurm on PATH.
echo "noslurm: no private mount namespace here (${ns[*]} needs root); hiding Slurm's commands from PATH instead" >&2
shadow=$(mktemp -d)
trap 'rm -rf "$shadow"' EXIT
for d in "${dirs[@]}"; do
	for f in "${d:-.}"/*; do
		n=${f##*/}
		case " $slurm " in *" $n "*) continue ;; esac
		if [ -f "$f" ] && [ -x "$f" ] && [ ! -e "$shadow/$n" ]; then ln -s "$f" "$shadow/$n"; fi
	done
done
rc=0
PATH=$shadow env -u SLURM_CONF -u MIGRATOR_REQUIRE_SLURM MIGRATOR_EXPECT_NO_SLURM=1 "$@" || rc=$?
exit "$rc"
