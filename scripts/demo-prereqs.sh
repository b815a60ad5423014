#!/usr/bin/env bash
# What `make demo` needs besides Go: PostgreSQL's server binaries (the ones
# internal/pgsandbox finds: $PG_BIN, pg_config --bindir, then the newest
# /usr/lib/postgresql/*/bin) with pg_stat_statements, and HypoPG for them.
# As root it installs what is missing with apt-get. Otherwise it says what
# is missing and how to add it: without HypoPG the demo still runs, and its
# recommendations are marked unvalidated.
set -uo pipefail

PG_MAJOR_DEFAULT=15

# bindir prints the first directory holding initdb and postgres.
bindir() {
  local d candidates=()
  [ -n "${PG_BIN:-}" ] && candidates+=("$PG_BIN")
  command -v pg_config >/dev/null && candidates+=("$(pg_config --bindir)")
  candidates+=($(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn))
  for d in "${candidates[@]}"; do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

# apt_install installs packages, refreshing the package lists first when
# they are too old to have them.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  echo "demo: installing $*"
  apt-get install -y -qq "$@" >/dev/null 2>&1 && return 0
  apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null
}

bin=$(bindir)
if [ -z "$bin" ]; then
  pkgs="postgresql-$PG_MAJOR_DEFAULT postgresql-$PG_MAJOR_DEFAULT-hypopg"
  if ! can_install || ! apt_install $pkgs || ! bin=$(bindir); then
    echo "demo: PostgreSQL's server binaries (initdb, postgres) are missing: install them with" >&2
    echo "      'apt-get install -y $pkgs' as root, or set PG_BIN to their directory" >&2
    exit 1
  fi
fi

major=$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)[.0-9]*.*/\1/')
share=/usr/share/postgresql/$major
[ -x "$bin/pg_config" ] && share=$("$bin/pg_config" --sharedir)

if [ ! -f "$share/extension/pg_stat_statements.control" ]; then
  echo "demo: pg_stat_statements is missing from $share/extension: the demo needs it;" >&2
  echo "      it ships with PostgreSQL's contrib modules (postgresql-$major on Debian, postgresql$major-contrib elsewhere)" >&2
  exit 1
fi

if [ ! -f "$share/extension/hypopg.control" ]; then
  if ! can_install || ! apt_install "postgresql-$major-hypopg" || [ ! -f "$share/extension/hypopg.control" ]; then
    echo "demo: HypoPG is missing for PostgreSQL $major: the demo runs without it and marks its recommendations" >&2
    echo "      unvalidated. Add it with 'apt-get install -y postgresql-$major-hypopg' as root." >&2
  fi
fi
exit 0
