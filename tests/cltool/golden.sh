#!/bin/sh
# Runs cltool and compares its stdout, byte for byte, with a golden file.
# usage: golden.sh CLTOOL GOLDEN_FILE [ARGUMENTS...]
# To accept a deliberate change of a help text, regenerate the file with
# the same command and review the diff.
set -u
cltool=$1
golden=$2
shift 2

actual=$("$cltool" "$@"; echo "exit $?")
expected=$(cat "$golden"; echo "exit 0")
if [ "$actual" != "$expected" ]; then
    echo "cltool $* differs from $golden:"
    printf '%s\n' "$actual" | diff -u "$golden" - || true
    exit 1
fi
