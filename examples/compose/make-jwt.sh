#!/usr/bin/env bash
# Mints an HS256 JWT the compose demo's gateway accepts (the `demo` provider of
# mesh/edge.yaml, key `demo-hs256` of gateway/jwks.json). Demo only: the secret is public.
#
#   ./make-jwt.sh partner-acme          # valid for an hour, consumer `partner-acme`
#   ./make-jwt.sh partner-acme -60      # expired a minute ago: the gateway answers 401
#
# Needs openssl (and date, tr).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
    echo "usage: $0 SUBJECT [SECONDS_VALID (default 3600; negative: already expired)]" >&2
    exit 2
fi
sub=$1
ttl=${2:-3600}
if ! [[ $ttl =~ ^-?[0-9]+$ ]]; then
    echo "$0: SECONDS_VALID must be a whole number of seconds, got \`$ttl\`" >&2
    exit 2
fi
if ! [[ $sub =~ ^[A-Za-z0-9._@-]+$ ]]; then
    echo "$0: SUBJECT may hold letters, digits and . _ @ - only, got \`$sub\`" >&2
    exit 2
fi

# The `k` of gateway/jwks.json, base64url-decoded.
secret='convoy-compose-demo-secret-not-for-production'
issuer='https://issuer.demo.convoy'
audience='convoy-demo'

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"HS256","typ":"JWT","kid":"demo-hs256"}' | b64url)
payload=$(printf '{"iss":"%s","aud":"%s","sub":"%s","iat":%d,"exp":%d}' \
    "$issuer" "$audience" "$sub" "$now" "$((now + ttl))" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$signature"
