#!/bin/sh
# A tool agent that fails: what `agora run` reports for a broken tool.
echo "fail.sh: reading the input" >&2
echo "fail.sh: cannot reach the index service" >&2
exit 3
