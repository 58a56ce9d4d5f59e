#!/bin/sh
# A tool agent whose output is plain text (not JSON): the contribution is
# then that text, as a JSON string.
set -eu
text=$(sed -n 's/.*"text":"\([^"]*\)".*/\1/p')
printf '%s\n' "$text" | tr 'a-z' 'A-Z'
