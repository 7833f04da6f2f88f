#!/usr/bin/env bash
# Fails unless BINARY needs no glibc symbol version newer than MAX (default 2.28: RHEL 8).
#   scripts/check-glibc.sh BINARY [MAX]
# Prints the newest GLIBC_ version the binary's dynamic symbol table asks for (objdump -T).
set -euo pipefail
bin="${1:?usage: $0 BINARY [MAX]}"
max="${2:-2.28}"
command -v objdump >/dev/null || { echo "check-glibc: objdump not found (Debian/RHEL: binutils)" >&2; exit 2; }
[ -f "$bin" ] || { echo "check-glibc: $bin: no such file" >&2; exit 2; }
syms="$(objdump -T "$bin")" || { echo "check-glibc: objdump -T $bin failed" >&2; exit 2; }
newest="$(grep -o 'GLIBC_[0-9][0-9.]*' <<<"$syms" | sed 's/^GLIBC_//' | sort -uV | tail -n 1)"
if [ -z "$newest" ]; then
  echo "check-glibc: $bin asks for no GLIBC_ symbol version (static?)" >&2
  exit 1
fi
top="$(printf '%s\n%s\n' "$newest" "$max" | sort -V | tail -n 1)"
if [ "$top" != "$max" ]; then
  echo "check-glibc: $bin needs GLIBC_$newest > $max; symbols:" >&2
  grep -E "GLIBC_$newest( |\)|$)" <<<"$syms" | awk '{print "  " $NF}' | sort -u | head -20 >&2
  exit 1
fi
echo "GLIBC_$newest"
