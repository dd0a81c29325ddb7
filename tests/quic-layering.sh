#!/usr/bin/env bash
# quic/ is the sans-I/O QUIC endpoint (docs/architecture.md, "Layers"): it
# sits above core/ and conf/ and below both drivers, so its files include
# only core/, conf/ and quic/ headers, ngtcp2, GnuTLS, nettle and the C
# library's pure headers (address types, no socket calls); and it calls
# no clock, socket, event loop or randomness of its own: the owner gives
# `now`, datagrams and random bytes (quic/endpoint.h).
#   tests/quic-layering.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
fail=0
allowed='^#[[:space:]]*include[[:space:]]*("(core|conf|quic)/[a-z0-9_]+\.h"|<(ngtcp2|gnutls|nettle)/[a-z0-9_]+\.h>|<(arpa/inet|netinet/in|sys/socket|sys/types|time|assert|errno|inttypes|limits|stdarg|stdbool|stddef|stdint|stdio|stdlib|string)\.h>)'
while IFS= read -r line; do
  file=${line%%:*}
  rest=${line#*:}
  rest=${rest#*:}
  if ! [[ $rest =~ $allowed ]]; then
    echo "quic-layering: $file includes outside its layer: $rest" >&2
    fail=1
  fi
done < <(grep -Hn '^#[[:space:]]*include' quic/*.c quic/*.h)
# Calls that would give the endpoint its own clock, socket or randomness.
if grep -HnE '(^|[^.>a-z_])(clock_gettime|gettimeofday|time|socket|sendmsg|recvmsg|sendto|recvfrom|gnutls_rnd|rand|random|ev_[a-z_]+)\(' quic/*.c; then
  echo "quic-layering: a clock, socket, event loop or randomness call in quic/" >&2
  fail=1
fi
./ci/names quic || fail=1
if [ "$fail" -ne 0 ]; then
  echo "quic-layering: FAIL" >&2
  exit 1
fi
echo "quic-layering: ok"
