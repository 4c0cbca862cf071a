#!/bin/sh
# The shared library exports the public API and nothing else: every
# dynamic symbol it defines starts with clxent_.
set -eu
library=$1
others=$(nm -D --defined-only "$library" | awk '{print $3}' |
         grep -v '^clxent_' || true)
if [ -n "$others" ]; then
    echo "exported beyond the public API:"
    echo "$others"
    exit 1
fi
echo "1 passed, 0 failed"
