#!/usr/bin/env bash
# scripts/make-deb.sh BUILD_DIR [OUT_DIR]: a Debian package of the infergate binary in BUILD_DIR
# (a Release build), for Debian 12: the binary in usr/bin, the unit in lib/systemd/system, the
# reference config as a conffile in /etc/infergate, the logrotate snippet as a conffile in
# /etc/logrotate.d, the man page; postinst creates the system
# user and enables (does not start) the service. Then lintian, which must report no error.
# Prints the package's path. `make deb` runs it.
set -euo pipefail

build=$(readlink -f "${1:?usage: scripts/make-deb.sh BUILD_DIR [OUT_DIR]}")
out=$(readlink -f "${2:-$build}")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$("$build/bin/infergate" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
work=$(mktemp -d /tmp/infergate-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
pkg="$work/infergate"

DESTDIR="$pkg" cmake --install "$build" --prefix /usr >/dev/null
# Debian 12 keeps units in /lib/systemd/system.
mkdir -p "$pkg/lib/systemd/system"
mv "$pkg/usr/lib/systemd/system/infergate.service" "$pkg/lib/systemd/system/"
rm -rf "$pkg/usr/lib"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/infergate"
gzip -9n "$pkg/usr/share/man/man8/infergate.8"
doc="$pkg/usr/share/doc/infergate"
mkdir -p "$doc"
cp "$root/packaging/debian/copyright" "$doc/copyright"
printf 'infergate (%s) unstable; urgency=medium\n\n  * Built from the infergate source tree.\n\n -- infergate maintainers <infergate@example.org>  %s\n' \
  "$version" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(date +%s)}")" | gzip -9n > "$doc/changelog.gz"

# Shared-library dependencies, as dpkg-shlibdeps finds them.
mkdir -p "$work/src/debian"
printf 'Source: infergate\n\nPackage: infergate\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$pkg/usr/bin/infergate" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

mkdir -p "$pkg/DEBIAN"
install -m 0755 "$root/packaging/debian/postinst" "$root/packaging/debian/prerm" \
  "$root/packaging/debian/postrm" "$pkg/DEBIAN/"
printf '/etc/infergate/infergate.yaml\n/etc/logrotate.d/infergate\n' > "$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: infergate
Version: $version
Architecture: $arch
Maintainer: infergate maintainers <infergate@example.org>
Installed-Size: $size
Depends: $shlibs, adduser, init-system-helpers (>= 1.52)
Section: net
Priority: optional
Homepage: https://github.com/infergate/infergate
Description: L7 gateway for AI inference servers
 A reverse proxy in front of model servers (vLLM, TGI, llama.cpp, SGLang,
 Triton, any OpenAI-compatible API) that keeps inference available when
 backends hang, crash, slow down or saturate: routing by path, host, headers,
 tenant and model, failure detection, retries under a budget, compartments,
 and degradation to fallbacks, with answers in the OpenAI shape.
CONTROL
find "$pkg" -type d -exec chmod 0755 {} +
deb="$out/infergate_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$pkg" "$deb" >/dev/null
if command -v lintian >/dev/null; then
  lintian --fail-on error --tag-display-limit 0 "$deb" >&2
fi
echo "$deb"
