#!/usr/bin/env bash
# make package: migrator's .deb and .rpm in dist/, built by nfpm (a Go tool pinned in
# go.mod) from a staged tree: the binary, the man pages and bash completion generated from
# the command line definitions, the job templates, and monitoring/ when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
# Package versions must start with a digit: a release tag vX.Y.Z gives X.Y.Z-1; any other
# build is 0.0.N (N commits) with the commit in the release, e.g. 0.0.412-1.g9c49083.
if [[ $version =~ ^v?([0-9]+\.[0-9]+\.[0-9]+)$ ]]; then
	export PKG_VERSION=${BASH_REMATCH[1]} PKG_RELEASE=1
else
	export PKG_VERSION=0.0.$(git rev-list --count HEAD 2>/dev/null || echo 0)
	export PKG_RELEASE=1.g$(git rev-parse --short HEAD 2>/dev/null || echo 0)
fi
export PKG_ARCH=$(go env GOARCH)
STAGE=dist/stage # ci/nfpm.yaml reads it from there
rm -rf "$STAGE"
mkdir -p "$STAGE/man" "$STAGE/completions" "$STAGE/share/templates"
CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$version -X main.commit=$commit" -o "$STAGE/migrator" ./cmd/migrator
"$STAGE/migrator" man "$STAGE/man" 2>/dev/null
gzip -9n "$STAGE"/man/*.1
"$STAGE/migrator" completion bash >"$STAGE/completions/migrator"
cp templates/*.tmpl "$STAGE/share/templates/"
if [ -d monitoring ]; then
	cp -R monitoring "$STAGE/share/monitoring"
fi
for p in deb rpm; do
	go tool nfpm package --config ci/nfpm.yaml --packager "$p" --target dist/
done
ls -l dist/*.deb dist/*.rpm
