#!/bin/sh
# A tool agent: reads its task (JSON) on stdin, writes its contribution
# (JSON) on stdout. Counts the words of the run's input "text".
set -eu
text=$(sed -n 's/.*"text":"\([^"]*\)".*/\1/p')
printf '{"words": %d}\n' "$(printf '%s' "$text" | wc -w)"
