#!/usr/bin/env bash
# Download throughput of `novaq url` (libcurl into the cache, then size + SHA-256 check)
# from the local Hub stand-in (tests/hub_server.py) on 127.0.0.1, against curl's own
# download of the same file. A cold run (download, verify, compress) minus a warm run (HEAD,
# cache hit, compress) is the download-and-verify time.
# usage: scripts/bench-fetch.sh [MiB (default 256)] [novaq binary (default build/cli/novaq)]
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-256}
novaq=$(realpath "${2:-build/cli/novaq}")
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
mkdir -p "$tmp/hub/bench/big"
# one 1-D F32 tensor of zeros: stored raw, so compressing it costs little
python3 - "$tmp/hub/bench/big/model.safetensors" "$mib" <<'EOF'
import json, struct, sys
n = int(sys.argv[2]) * (1 << 20) // 4
h = json.dumps({"x": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
h += b" " * ((-len(h)) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + 4 * n)
EOF
python3 tests/hub_server.py serve "$tmp/hub" "$tmp/port" "$tmp/log" &
server=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$tmp/port")/bench/big/resolve/main/model.safetensors"
export NOVAQ_CACHE_DIR=$tmp/cache
now() { date +%s.%N; }
t0=$(now); curl -sfL -o "$tmp/curl.out" "$url"; t1=$(now)
"$novaq" url "$url" -o "$tmp/a.novaq" >/dev/null 2>&1; t2=$(now)
"$novaq" url "$url" -o "$tmp/b.novaq" >/dev/null 2>&1; t3=$(now)
python3 - "$mib" "$t0" "$t1" "$t2" "$t3" <<'EOF'
import sys
mib, t0, t1, t2, t3 = int(sys.argv[1]), *map(float, sys.argv[2:])
dl = (t2 - t1) - (t3 - t2)
print(f"file: {mib} MiB from tests/hub_server.py on 127.0.0.1")
print(f"curl -o file:                    {t1 - t0:6.2f} s  {mib / (t1 - t0):7.1f} MiB/s")
print(f"novaq url, cold (fetch+compress): {t2 - t1:6.2f} s")
print(f"novaq url, warm (cache+compress): {t3 - t2:6.2f} s")
print(f"download + size/SHA-256 check:   {dl:6.2f} s  {mib / dl:7.1f} MiB/s")
EOF
