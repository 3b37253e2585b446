#!/bin/sh
# make-man.sh TOOL INCLUDE OUT.1.gz: the tool's man page from its --help and
# --version (help2man), with INCLUDE's sections, and for netipc-cli the
# --help of every subcommand; gzip -9n so the page is reproducible.
set -eu
tool=$1 include=$2 out=$3
name=$(basename "$tool")
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.h2m"' EXIT
cp "$include" "$tmp.h2m"
if [ "$name" = netipc-cli ]; then
  {
    echo "[SUBCOMMANDS]"
    for sub in "serve increment" "serve cgroups-snapshot" "call increment" snapshot cache status; do
      # shellcheck disable=SC2086
      "$tool" $sub --help >/dev/null 2>&1 || continue
      echo ".SS \"netipc-cli $sub\""
      echo ".nf"
      # shellcheck disable=SC2086
      "$tool" $sub --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
      echo ".fi"
    done
  } >> "$tmp.h2m"
fi
help2man --no-info --no-discard-stderr \
  --include "$tmp.h2m" --output "$tmp" "$tool"
gzip -9n -c "$tmp" > "$out"
