#!/bin/sh
# Installs or uninstalls tinyd: the binary, the man page and the bash, zsh
# and fish completions.
#
#     scripts/install.sh [install]     copy the files into place
#     scripts/install.sh uninstall     remove those files again
#     scripts/install.sh files         print the paths it installs, one per line
#
# It runs from a source tree after 'npm run build' (build/tinyd, man/tinyd.8,
# build/completions/) or from an unpacked release archive, where it sits
# next to tinyd, tinyd.8 and completions/.
#
# Variables, with their defaults:
#     PREFIX=/usr/local
#     DESTDIR=                     staging root for packages, prepended to every path
#     BINDIR=$PREFIX/bin
#     MANDIR=$PREFIX/share/man
#     BASHCOMPDIR=$PREFIX/share/bash-completion/completions
#     ZSHCOMPDIR=$PREFIX/share/zsh/site-functions
#     FISHCOMPDIR=$PREFIX/share/fish/vendor_completions.d
#
# Uninstall removes exactly the files listed by 'files' for the same
# variables, and leaves directories in place, since other software may use
# them.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ -f "$here/tinyd" ] && [ -f "$here/tinyd.8" ]; then
	src_bin=$here/tinyd
	src_man=$here/tinyd.8
	src_completions=$here/completions
else
	src_bin=$here/../build/tinyd
	src_man=$here/../man/tinyd.8
	src_completions=$here/../build/completions
fi

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BINDIR=${BINDIR:-$PREFIX/bin}
MANDIR=${MANDIR:-$PREFIX/share/man}
BASHCOMPDIR=${BASHCOMPDIR:-$PREFIX/share/bash-completion/completions}
ZSHCOMPDIR=${ZSHCOMPDIR:-$PREFIX/share/zsh/site-functions}
FISHCOMPDIR=${FISHCOMPDIR:-$PREFIX/share/fish/vendor_completions.d}

die() {
	echo "install.sh: $*" >&2
	exit 1
}

# Calls "$@ SOURCE MODE TARGET" for each installed file, TARGET without DESTDIR.
for_each_file() {
	"$@" "$src_bin" 0755 "$BINDIR/tinyd"
	"$@" "$src_man" 0644 "$MANDIR/man8/tinyd.8"
	"$@" "$src_completions/tinyd.bash" 0644 "$BASHCOMPDIR/tinyd"
	"$@" "$src_completions/_tinyd" 0644 "$ZSHCOMPDIR/_tinyd"
	"$@" "$src_completions/tinyd.fish" 0644 "$FISHCOMPDIR/tinyd.fish"
}

check_source() {
	[ -f "$1" ] || die "$1 is missing: run 'npm run build' first, or run this script from an unpacked release archive"
}

install_file() {
	[ -d "$DESTDIR$(dirname "$3")" ] || install -d -m 0755 "$DESTDIR$(dirname "$3")"
	install -m "$2" "$1" "$DESTDIR$3"
	echo "installed $DESTDIR$3"
}

remove_file() {
	if [ -e "$DESTDIR$3" ] || [ -L "$DESTDIR$3" ]; then
		rm -f "$DESTDIR$3"
		echo "removed $DESTDIR$3"
	fi
}

print_file() {
	echo "$DESTDIR$3"
}

check_paths() {
	for dir in "$PREFIX" "$BINDIR" "$MANDIR" "$BASHCOMPDIR" "$ZSHCOMPDIR" "$FISHCOMPDIR"; do
		case $dir in
		/*) ;;
		*) die "'$dir' is not an absolute path: set PREFIX and the *DIR variables to absolute paths" ;;
		esac
		case $dir in
		*"
"*) die "a path contains a newline: '$dir'" ;;
		esac
	done
}

check_paths
case ${1:-install} in
install)
	for_each_file check_source
	for_each_file install_file
	;;
uninstall) for_each_file remove_file ;;
files) for_each_file print_file ;;
-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' ;;
*) die "unknown command '$1': use install, uninstall or files" ;;
esac
