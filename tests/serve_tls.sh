#!/usr/bin/env bash
# `tandem serve --tls-cert/--tls-key`: HTTPS with a certificate for 127.0.0.1;
# a client that checks it reads through the gateway, and plain HTTP is not
# answered. A key that is not the certificate's is refused at start.
# Usage: serve_tls.sh TANDEM
set -uo pipefail
tandem="$1"
dir=$(mktemp -d)
serve_pid=""
trap '[[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$tandem" demo --records 500 --seconds-per-step 0.1 --threads 1 --dir "$dir/demo" >"$dir/demo.out" 2>&1 ||
  { tail -20 "$dir/demo.out"; fail "tandem demo"; }
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || fail "openssl req"
openssl genrsa -out "$dir/other.pem" 2048 2>/dev/null
if "$tandem" --config "$dir/demo/tandem.toml" serve --listen 127.0.0.1:0 --tls-cert "$dir/cert.pem" \
  --tls-key "$dir/other.pem" >"$dir/bad.out" 2>&1; then
  fail "a key that is not the certificate's was accepted"
fi
grep -q "tls-key" "$dir/bad.out" || { cat "$dir/bad.out"; fail "the refusal does not name --tls-key"; }
"$tandem" --config "$dir/demo/tandem.toml" serve --listen 127.0.0.1:0 --tls-cert "$dir/cert.pem" \
  --tls-key "$dir/key.pem" >"$dir/serve.out" 2>"$dir/serve.log" &
serve_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o "https://127.0.0.1:[0-9]*" "$dir/serve.out" | head -1)
[[ -n "$url" ]] || { cat "$dir/serve.out" "$dir/serve.log"; fail "tandem serve did not start with TLS"; }
out=$(curl -sf --cacert "$dir/cert.pem" "$url/v1/collections") || fail "HTTPS GET with the certificate checked"
grep -q '"name":"users"' <<<"$out" || fail "unexpected answer: $out"
curl -sf "http://${url#https://}/v1/collections" >/dev/null 2>&1 && fail "plain HTTP was answered"
echo "TLS: the gateway answers over HTTPS with a checked certificate, not over plain HTTP"
