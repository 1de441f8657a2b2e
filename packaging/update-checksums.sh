#!/bin/sh
# Writes the checksums of the release archives in DIST (made by
# 'npm run build:all') into the FreeBSD port's distinfo and the Arch
# PKGBUILD, and the version into both.
#
#     packaging/update-checksums.sh build/dist
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIST" >&2; exit 64; }
dist=$1
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$here/../package.json" | head -n 1)

for target in freebsd-x64 freebsd-arm64 linux-x64 linux-arm64; do
	file=$dist/tinyd-$version-$target.tar.gz
	[ -f "$file" ] || { echo "update-checksums.sh: $file is missing: run 'npm run build:all'" >&2; exit 66; }
done

sum() {
	sha256sum "$dist/tinyd-$version-$1.tar.gz" | cut -d ' ' -f 1
}

size() {
	wc -c < "$dist/tinyd-$version-$1.tar.gz" | tr -d ' '
}

{
	echo "TIMESTAMP = ${SOURCE_DATE_EPOCH:-$(date +%s)}"
	for target in freebsd-x64 freebsd-arm64; do
		echo "SHA256 (tinyd-$version-$target.tar.gz) = $(sum "$target")"
		echo "SIZE (tinyd-$version-$target.tar.gz) = $(size "$target")"
	done
} > "$here/freebsd/distinfo.new"
mv "$here/freebsd/distinfo.new" "$here/freebsd/distinfo"

x64=$(sum linux-x64)
arm64=$(sum linux-arm64)
sed -e "s/^pkgver=.*/pkgver=$version/" \
	-e "s/^sha256sums_x86_64=.*/sha256sums_x86_64=('$x64')/" \
	-e "s/^sha256sums_aarch64=.*/sha256sums_aarch64=('$arm64')/" \
	"$here/arch/PKGBUILD" > "$here/arch/PKGBUILD.new"
mv "$here/arch/PKGBUILD.new" "$here/arch/PKGBUILD"

sed -e "s/^DISTVERSION=.*/DISTVERSION=	$version/" "$here/freebsd/Makefile" > "$here/freebsd/Makefile.new"
mv "$here/freebsd/Makefile.new" "$here/freebsd/Makefile"
echo "updated $here/freebsd/distinfo, $here/freebsd/Makefile and $here/arch/PKGBUILD"
