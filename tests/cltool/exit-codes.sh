#!/bin/sh
# The exit codes `cltool --help` documents, and the usage line on errors.
# usage: exit-codes.sh CLTOOL
set -u
cltool=$1
failures=0

# expect CODE ARGUMENTS...: cltool exits with CODE; usage errors (2) also
# print the usage line on stderr.
expect() {
    want=$1
    shift
    "$cltool" "$@" >/dev/null 2>stderr.txt
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: cltool $* exited $got, expected $want"
        cat stderr.txt
        failures=$((failures + 1))
    elif [ "$want" = 2 ] && ! grep -q '^usage: cltool' stderr.txt; then
        echo "FAIL: cltool $* printed no usage line"
        failures=$((failures + 1))
    fi
}

expect 2
expect 2 --frobnicate
expect 2 frobnicate
expect 2 devices --frobnicate
expect 2 devices --json=yes
expect 2 bench --device
expect 2 bench --shape 0x10
expect 2 bench --shape 10x
expect 2 bench --shape 10x5x
expect 2 bench --shape 10x5x0
expect 2 bench --shape 10x5x3x2
expect 2 bench --input odds
expect 2 bench --mode sideways
expect 2 bench --loss hinge
expect 2 bench --repeat 0
expect 2 bench --time-budget -1
expect 2 bench --json --csv
expect 2 check --seed minus-one
expect 2 check --shape 8x8
expect 0 --help
expect 0 --version
expect 0 bench --help

# No OpenCL at all: an ICD loader with an empty vendor folder.
mkdir -p empty-icd
for command in devices bench check; do
    OCL_ICD_VENDORS=$PWD/empty-icd OCL_ICD_FILENAMES= \
        expect 77 "$command"
done

# Selectors need a device to be told apart from "no device".
"$cltool" devices >/dev/null 2>&1
if [ $? = 0 ]; then
    expect 2 check --device 1:x
    expect 2 bench --device 0:
    expect 3 check --device no-such-device-name
    expect 3 bench --device 99:99
else
    echo "no OpenCL device: selector cases not run"
fi

rm -rf empty-icd stderr.txt
[ "$failures" = 0 ]
