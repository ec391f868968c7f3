#!/bin/sh
# As the official image, redis-server accepts connections from other containers (its build turns protected
# mode off; Debian's does not).
set -eu
if [ "${1:-}" = redis-server ]; then shift; exec redis-server --protected-mode no "$@"; fi
exec "$@"
