#!/bin/sh
# A tool agent: counts the letters of the run's input "text".
set -eu
text=$(sed -n 's/.*"text":"\([^"]*\)".*/\1/p')
printf '{"letters": %d}\n' "$(printf '%s' "$text" | tr -cd 'A-Za-z' | wc -c)"
