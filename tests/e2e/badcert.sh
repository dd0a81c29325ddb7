#!/usr/bin/env bash
# A member whose certificate carries its registered key but whose
# self-signature does not verify is refused in the handshake (probe exit
# 3) and counted as bad_cert, not accepted: a key alone is not enough.
source "$(dirname "$0")/lib.sh"
make_net 2
# Member 0 is in the registry (the probe's identity) but never runs.
b=$(base_port)
{ echo "version: 1"; echo "members:"
  for i in 0 1 2; do echo "  - {index: $i, id: ${NET_IDS[$i]}, addr: 127.0.0.1:$((b + i))}"; done; } >"$NET_REG.tmp"
mv "$NET_REG.tmp" "$NET_REG"
for i in 1 2; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done

log "flipping one bit of member 0's certificate signature"
python3 - "$WORK/node0/cert.pem" <<'PY'
import base64, sys
path = sys.argv[1]
lines = open(path).read().split("\n")
der = bytearray(base64.b64decode("".join(l for l in lines if l and not l.startswith("-----"))))
der[-5] ^= 0x01  # inside the Ed25519 signature, the DER's last 64 bytes
b64 = base64.b64encode(bytes(der)).decode()
body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
open(path, "w").write("-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n")
PY
set +e
"$REPLICA" probe --config "$WORK/node0/config.yaml" --peer 2 --timeout 5 >"$WORK/probe.out" 2>&1
rc=$?
set -e
cat "$WORK/probe.out"
[ "$rc" -eq 3 ] || fail "the bad certificate was not refused (probe exit $rc)"
body "${NET_ADMIN[2]}/metrics" >"$WORK/metrics.txt"
grep -q '^p2p_replica_handshake_refusals_total{reason="bad_cert"} 1$' "$WORK/metrics.txt" ||
    fail "node 2 did not count the refusal as bad_cert"
grep -q '^p2p_replica_peer_handshakes_total{peer="0"} 0$' "$WORK/metrics.txt" ||
    fail "node 2 completed a handshake with member 0"
log "PASS: a certificate whose self-signature does not verify is refused (bad_cert)"
