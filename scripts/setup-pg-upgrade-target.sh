#!/bin/sh
# Install PostgreSQL 17 beside Debian's PostgreSQL, for the real-process tests of a major version
# upgrade (pg_upgrade from the Debian package's major, 15 on bookworm, to 17), at the paths a
# Spilo-like image has them:
#   /usr/lib/postgresql/17/bin   postgres, initdb, pg_ctl, pg_controldata, pg_upgrade, pg_resetwal,
#                                pg_basebackup, pg_rewind, psql, pg_dump, pg_dumpall, vacuumdb, ...
#   /usr/lib/postgresql/17/lib   plpgsql.so and the contrib modules of the package
#   /usr/share/postgresql/17     the share directory (extensions, timezone sets, ...)
# and pgBackRest 2.5x, which knows PostgreSQL 17 (bookworm's 2.45 does not), at
#   /opt/trixie-postgresql-17/usr/bin/pgbackrest   (bookworm's /usr/bin/pgbackrest stays as it is)
#
# Why this way: bookworm has only PostgreSQL 15, and CI's machine (a clean bookworm) reaches no
# package archive but Debian's, so PostgreSQL 17 can only come from trixie's packages
# (postgresql-17, postgresql-client-17; pgbackrest 2.55). Those are built against glibc 2.38
# (bookworm has 2.36) and trixie's libraries (libicu76, libssl3t64, libpq5 17, ...), so they cannot
# simply be installed: apt would have to upgrade libc6 and half the system to trixie's. Instead,
# this script
#   1. reads trixie's package index into a private directory (apt-get with its own source list,
#      lists, cache and an empty dpkg status: the machine's apt and dpkg state are not touched;
#      the archive is the one that serves this machine's own release, from its apt configuration,
#      and apt checks the index's signature with Debian's archive keyring, which has trixie's keys);
#   2. downloads those packages and the closure of their library packages (libc6 included, LLVM
#      left out: see below), and extracts them with dpkg-deb -x into /opt/trixie-postgresql-17,
#      a private trixie "sysroot" that no package owns;
#   3. rewrites every executable's ELF interpreter to the sysroot's own loader, and sets the
#      RUNPATH of every executable and shared object to the sysroot's library directory, with
#      trixie's patchelf, itself run by that loader; so each program runs with trixie's glibc
#      and libraries, and no other program on the machine sees them (no LD_LIBRARY_PATH, no
#      ld.so.conf);
#   4. links /usr/lib/postgresql/17 and /usr/share/postgresql/17 to the sysroot's directories
#      (PostgreSQL finds its lib and share directories relative to its own binary, so both paths
#      work), unless something else is already there.
# Left out: the JIT (llvmjit.so and its bitcode, which need the 100 MB libllvm19): PostgreSQL
# treats a missing JIT provider as "JIT not available" and runs queries without it. Translations
# and documentation are dropped too.
#
# Does nothing when it is already there (and PostgreSQL 17 and pgBackRest run). Debian's
# PostgreSQL 15, dpkg's database and apt's lists and cache are left as they are. Needs root (or
# sudo), like scripts/setup-system.sh, which calls it with --runtime.
# Usage: scripts/setup-pg-upgrade-target.sh
set -eu

MAJOR=17
SUITE=trixie
ROOT=/opt/trixie-postgresql-$MAJOR
PACKAGES="postgresql-$MAJOR postgresql-client-$MAJOR pgbackrest"
# Bumped when the way of installing changes: a machine with another recipe's install gets a new one.
RECIPE=1
LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu
LOADER=$LIBDIR/ld-linux-x86-64.so.2
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

installed() {
    [ "$(head -n 1 "$ROOT/.installed" 2>/dev/null)" = "recipe $RECIPE" ] &&
        /usr/lib/postgresql/$MAJOR/bin/postgres --version 2>/dev/null | grep -q "(PostgreSQL) $MAJOR\." &&
        /usr/lib/postgresql/$MAJOR/bin/pg_upgrade --version >/dev/null 2>&1 &&
        "$ROOT/usr/bin/pgbackrest" version >/dev/null 2>&1
}

installed && exit 0

if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo "$0" "$@"
    fi
    echo "setup-pg-upgrade-target: need root (or sudo) to install PostgreSQL $MAJOR into $ROOT" >&2
    exit 1
fi
if [ "$(dpkg --print-architecture)" != "amd64" ]; then
    echo "setup-pg-upgrade-target: only amd64 is supported (the sysroot's loader is x86-64's)" >&2
    exit 1
fi

started=$(date +%s)
mkdir -p "$(dirname "$ROOT")"
staging=$(mktemp -d "$(dirname "$ROOT")/.trixie-postgresql-$MAJOR.XXXXXX")
chmod 755 "$staging" # apt downloads as its _apt user
trap 'rm -rf "$staging"' EXIT
trap 'exit 1' INT TERM
mkdir -p "$staging/state/lists/partial" "$staging/cache/archives/partial" "$staging/etc/parts" \
    "$staging/etc/preferences" "$staging/debs" "$staging/root" "$staging/tool"
: >"$staging/state/status"

# The archive that serves this machine's own release (apt's view of its sources, whichever format).
release=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
uri=$(apt-get indextargets --no-release-info --format '$(RELEASE) $(SITE)' | awk -v r="$release" '$1 == r { print $2; exit }')
if [ -z "$uri" ]; then
    echo "setup-pg-upgrade-target: no apt source serves $release; cannot tell where Debian's archive is" >&2
    exit 1
fi
echo "deb [signed-by=$KEYRING] $uri $SUITE main" >"$staging/etc/sources.list"

# apt with nothing of the machine's state: its own sources, lists, cache, pins and an empty status.
apt_private() {
    program=$1
    shift
    "$program" -q \
        -o Dir::Etc::SourceList="$staging/etc/sources.list" -o Dir::Etc::SourceParts="$staging/etc/parts" \
        -o Dir::Etc::Preferences="$staging/etc/preferences/none" \
        -o Dir::Etc::PreferencesParts="$staging/etc/preferences" \
        -o Dir::State="$staging/state" -o Dir::State::Lists="$staging/state/lists" \
        -o Dir::State::Status="$staging/state/status" -o Dir::Cache="$staging/cache" \
        -o APT::Architectures::=amd64 -o Acquire::Languages=none -o APT::Default-Release= "$@"
}

echo "setup-pg-upgrade-target: reading $SUITE's package index" >&2
apt_private apt-get -qq update

# The packages and, transitively, the library packages they depend on (the first of alternatives).
# Other dependencies (postgresql-common, tzdata, ssl-cert, debconf, locales, ...) are the
# machine's: bookworm has them, and the binaries run here without their trixie versions.
# libllvm19 serves the JIT only, which is left out (see above).
closure=""
level=$PACKAGES
while [ -n "$level" ]; do
    closure="$closure $level"
    # shellcheck disable=SC2086
    next=$(apt_private apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances $level |
        awk '/^ +\|?(Pre)?Depends: / { if (alt) { alt = ($1 ~ /^\|/); next } alt = ($1 ~ /^\|/); print $2 }' |
        grep -E '^(lib[a-z0-9]|zlib1g$)' | grep -v '^libllvm' | sort -u)
    level=""
    for package in $next; do
        case " $closure $level " in
            *" $package "*) ;;
            *) level="$level $package" ;;
        esac
    done
done
# trixie's patchelf (needs glibc 2.38 too: it runs by the sysroot's loader, from a copy).
closure="$closure patchelf"

echo "setup-pg-upgrade-target: downloading$closure" >&2
chown _apt "$staging/debs" 2>/dev/null || true
# shellcheck disable=SC2086
(cd "$staging/debs" && apt_private apt-get -qq download $closure)
for deb in "$staging"/debs/*.deb; do
    dpkg-deb -x "$deb" "$staging/root"
done
sysroot=$staging/root
{
    echo "recipe $RECIPE"
    for deb in "$staging"/debs/*.deb; do
        dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb"
    done
} >"$staging/installed"
download_bytes=$(du -cb "$staging"/debs/*.deb | tail -n 1 | cut -f 1)

# What is not needed: the JIT provider (needs libllvm19), translations, documentation, patchelf
# itself in the sysroot (copied to a tool directory first), glibc's iconv modules (glibc looks for
# them in the machine's /usr/lib/x86_64-linux-gnu/gconv, not here).
tool=$staging/tool
built_lib=$sysroot/usr/lib/x86_64-linux-gnu
cp -L "$built_lib/ld-linux-x86-64.so.2" "$built_lib/libc.so.6" "$built_lib/libm.so.6" \
    "$built_lib/libstdc++.so.6" "$built_lib/libgcc_s.so.1" "$sysroot/usr/bin/patchelf" "$tool/"
rm -rf "$sysroot/usr/lib/postgresql/$MAJOR/lib/bitcode" "$sysroot/usr/lib/postgresql/$MAJOR/lib/llvmjit"* \
    "$sysroot/usr/share/locale" "$sysroot/usr/share/doc" "$sysroot/usr/share/man" "$sysroot/usr/share/lintian" \
    "$built_lib/gconv" "$sysroot/usr/bin/patchelf"

patchelf() {
    "$tool/ld-linux-x86-64.so.2" --library-path "$tool" "$tool/patchelf" "$@"
}

# Every ELF file: executables get the sysroot's loader, all (but glibc's loader and libc) its
# library directory as RUNPATH. The paths are the final ones, under $ROOT.
elves=0
find "$sysroot" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) >"$staging/files"
while IFS= read -r file; do
    [ "$(head -c 4 "$file" | tail -c 3)" = "ELF" ] || continue
    case "${file##*/}" in
        ld-linux-x86-64.so.2 | libc.so.6) continue ;;
    esac
    if patchelf --print-interpreter "$file" >/dev/null 2>&1; then
        patchelf --set-interpreter "$LOADER" --set-rpath "$LIBDIR" "$file"
    else
        patchelf --set-rpath "$LIBDIR" "$file"
    fi
    echo "$file" >>"$staging/elves"
    elves=$((elves + 1))
done <"$staging/files"

# In place: the sysroot replaces any earlier one, then the links of the Spilo-like paths.
rm -rf "$ROOT"
mv "$sysroot" "$ROOT"
sed "s#^$sysroot#$ROOT#" "$staging/elves" >"$staging/elves.final"

# Every ELF file must find every library it needs in the sysroot (trixie's loader says where).
unresolved=""
while IFS= read -r file; do
    outside=$("$LOADER" --list "$file" 2>&1 |
        grep -v -e "=> $ROOT/" -e 'linux-vdso' -e "^[[:space:]]*$LOADER" -e 'statically linked' || true)
    [ -z "$outside" ] || unresolved="$unresolved
$file: $outside"
done <"$staging/elves.final"
if [ -n "$unresolved" ]; then
    rm -rf "$ROOT"
    echo "setup-pg-upgrade-target: libraries not found in the sysroot:$unresolved" >&2
    exit 1
fi

link() {
    target=$1
    path=$2
    if [ -e "$path" ] && [ ! -L "$path" ]; then
        echo "setup-pg-upgrade-target: $path exists and is not a link; left as it is" >&2
        return
    fi
    mkdir -p "$(dirname "$path")"
    ln -sfn "$target" "$path"
}
link "$ROOT/usr/lib/postgresql/$MAJOR" "/usr/lib/postgresql/$MAJOR"
link "$ROOT/usr/share/postgresql/$MAJOR" "/usr/share/postgresql/$MAJOR"
mv "$staging/installed" "$ROOT/.installed"

if ! installed; then
    echo "setup-pg-upgrade-target: installed, but PostgreSQL $MAJOR or pgBackRest does not run" >&2
    exit 1
fi
echo "setup-pg-upgrade-target: PostgreSQL $MAJOR and pgBackRest in $ROOT ($elves ELF files patched," \
    "$((download_bytes / 1000000)) MB downloaded, $(($(date +%s) - started)) s)" >&2
