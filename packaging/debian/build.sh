#!/bin/sh
# Builds tinyd_VERSION-1_ARCH.deb with dpkg-deb from a Linux build of tinyd.
#
#     packaging/debian/build.sh SOURCE OUTDIR
#
# SOURCE is an unpacked release archive (tinyd-VERSION-linux-x64 or
# -linux-arm64, which holds install.sh) or the source tree after
# 'npm run build'. The package is laid out by install.sh with PREFIX=/usr
# and Debian's directory for zsh completions, plus the copyright file, a
# changelog and the lintian overrides that Debian policy asks for.
#
# Variables: DEB_VERSION (default: the version of tinyd, then -1),
# DEB_MAINTAINER (set it to your name and address; the default is a placeholder),
# DEB_COMPRESSION (xz, the default, or gzip, which is about 7 times faster
# for tinyd's 110 MB binary and gives a 30% larger package),
# SOURCE_DATE_EPOCH (default: the time of the last commit, else 0).
set -eu

[ $# -eq 2 ] || { echo "usage: $0 SOURCE OUTDIR" >&2; exit 64; }
source_dir=$(cd "$1" && pwd)
outdir=$2
here=$(cd "$(dirname "$0")" && pwd)

if [ -f "$source_dir/install.sh" ]; then
	install_sh=$source_dir/install.sh
	binary=$source_dir/tinyd
	license=$source_dir/LICENSE
else
	install_sh=$source_dir/scripts/install.sh
	binary=$source_dir/build/tinyd
	license=$source_dir/LICENSE
fi
[ -x "$binary" ] || { echo "build.sh: $binary is missing: build tinyd first" >&2; exit 66; }

# The architecture of the binary, not of this machine: the package may be cross-built.
case $(od -An -tx1 -j18 -N2 "$binary" | tr -d ' \n') in
3e00) arch=amd64 ;;
b700) arch=arm64 ;;
*) echo "build.sh: $binary is no x86-64 or AArch64 ELF binary" >&2; exit 65 ;;
esac

# A musl build needs the musl loader, which Debian's libc6 does not provide.
if od -An -c "$binary" -N 4096 | tr -d ' \n' | grep -q 'ld-musl'; then
	echo "build.sh: $binary is a musl build; package a glibc build (linux-x64 or linux-arm64)" >&2
	exit 65
fi

version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$here/../../package.json" 2>/dev/null | head -n 1)
if [ -z "$version" ]; then
	# From a release archive: the version is in the directory name.
	version=$(basename "$source_dir" | sed -n 's/^tinyd-\([0-9][^-]*\)-.*/\1/p')
fi
[ -n "$version" ] || { echo "build.sh: cannot tell the version of tinyd; set DEB_VERSION" >&2; exit 65; }
deb_version=${DEB_VERSION:-$version-1}
maintainer=${DEB_MAINTAINER:-tinyd packager <packager@example.org>}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM
root=$stage/root
umask 022

PREFIX=/usr DESTDIR=$root ZSHCOMPDIR=/usr/share/zsh/vendor-completions sh "$install_sh" install >/dev/null
gzip -9n "$root/usr/share/man/man8/tinyd.8"

doc=$root/usr/share/doc/tinyd
mkdir -p "$doc" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
{
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: tinyd"
	echo
	echo "Files: *"
	echo "License: BSD-2-Clause"
	echo
	echo "License: BSD-2-Clause"
	sed -e 's/^$/./' -e 's/^/ /' "$license"
} > "$doc/copyright"
date=$(date -u -d "@$SOURCE_DATE_EPOCH" -R 2>/dev/null || date -u -r "$SOURCE_DATE_EPOCH" -R)
{
	echo "tinyd ($deb_version) unstable; urgency=medium"
	echo
	echo "  * Package tinyd $version."
	echo
	echo " -- $maintainer  $date"
} | gzip -9n > "$doc/changelog.Debian.gz"
cp "$here/tinyd.lintian-overrides" "$root/usr/share/lintian/overrides/tinyd"

installed_size=$(du -sk --apparent-size "$root" 2>/dev/null | cut -f1 || du -sk "$root" | cut -f1)
sed -e "s/@VERSION@/$deb_version/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$maintainer/" \
	-e "s/@INSTALLED_SIZE@/$installed_size/" "$here/control.in" > "$root/DEBIAN/control"

(cd "$root" && find usr -type f | LC_ALL=C sort | xargs md5sum) > "$root/DEBIAN/md5sums"

# Same owner, modes and times for every file, so that two builds give the same package.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
chmod -R u+rwX,go+rX,go-w "$root"
chmod 0755 "$root/usr/bin/tinyd"

mkdir -p "$outdir"
deb=$outdir/tinyd_${deb_version}_$arch.deb
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
