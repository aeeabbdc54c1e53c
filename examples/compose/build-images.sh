#!/usr/bin/env bash
# Builds the compose demo's images without any registry: cargo builds the binaries on this
# machine, and each image is assembled FROM scratch with just what they need to run (the
# binaries, the shared libraries they link as `ldd` lists them, the dynamic loader, CA
# certificates, an /etc/passwd with the non-root user 65532).
#
#   examples/compose/build-images.sh                        # cargo build --release, then the images
#   examples/compose/build-images.sh --profile debug        # from target/debug (faster to build)
#   examples/compose/build-images.sh --bin-dir target/debug # binaries already built: no cargo
#   examples/compose/build-images.sh --from-source          # the multi-stage Dockerfile instead (pulls rust and distroless)
#
# Images (tag --tag, default `local`, as compose.yaml expects):
#   convoy-control-plane:TAG   convoy-control-plane, convoy-http
#   convoy-proxy:TAG           convoy-proxy (sidecars and the gateway), convoy-http
#   convoy-demo-service:TAG    convoy-demo-service, convoy-http
# convoy-http is a tiny HTTP client: the healthchecks, and `docker compose exec` into images
# that have no shell.
#
# Environment: CARGO (default cargo), DOCKER (default docker).
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --profile release|debug   cargo profile to build and take the binaries from (default release)
  --bin-dir DIR             take the binaries from DIR, built already (skips cargo)
  --no-build                do not run cargo; take the binaries from the profile's target dir
  --tag TAG                 image tag (default local)
  --no-strip                keep debug symbols (stripped copies are much smaller)
  --from-source             docker build the repository's Dockerfile (needs a registry)
  -h, --help                this help
EOF
}

die() {
    echo "build-images: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/../.." && pwd)
profile=release
bin_dir=
build=1
tag=local
strip_symbols=1
from_source=0
while [ $# -gt 0 ]; do
    case $1 in
        --profile)
            [ $# -ge 2 ] || die "--profile needs a value: release or debug"
            profile=$2
            shift 2
            ;;
        --bin-dir)
            [ $# -ge 2 ] || die "--bin-dir needs a directory"
            bin_dir=$2
            build=0
            shift 2
            ;;
        --no-build) build=0; shift ;;
        --tag)
            [ $# -ge 2 ] || die "--tag needs a value"
            tag=$2
            shift 2
            ;;
        --no-strip) strip_symbols=0; shift ;;
        --from-source) from_source=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument \`$1\` (see --help)" ;;
    esac
done
case $profile in
    release | debug) ;;
    *) die "--profile must be release or debug, got \`$profile\`" ;;
esac
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "invalid tag \`$tag\` (letters, digits, _ . -)"

docker=${DOCKER:-docker}
cargo=${CARGO:-cargo}
command -v "$docker" >/dev/null 2>&1 || die "\`$docker\` not found: install Docker (or set DOCKER)"
"$docker" info >/dev/null 2>&1 || die "the Docker engine does not answer (\`$docker info\` fails): is it running, may you use it?"

# Which binary goes in which image, and which one the image runs.
images=(convoy-control-plane convoy-proxy convoy-demo-service)
declare -A entry=(
    [convoy-control-plane]=convoy-control-plane
    [convoy-proxy]=convoy-proxy
    [convoy-demo-service]=convoy-demo-service
)
declare -A dockerfile_target=(
    [convoy-control-plane]=control-plane
    [convoy-proxy]=proxy
    [convoy-demo-service]=demo-service
)
helper=convoy-http

# Tags $1 with the image just built, and removes the image it replaces (if nothing else uses
# it), so that rebuilding does not pile up untagged images.
retag_and_prune() {
    local name=$1 old=$2 new
    new=$("$docker" image inspect -f '{{.Id}}' "$name") || die "image $name was not built"
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        "$docker" image rm "$old" >/dev/null 2>&1 || true
    fi
    printf '  %-32s %s\n' "$name" "$(image_size "$name")"
}

image_size() {
    "$docker" image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1000000 }'
}

old_id() {
    "$docker" image inspect -f '{{.Id}}' "$1" 2>/dev/null || true
}

if [ "$from_source" = 1 ]; then
    echo "build-images: docker build $repo/Dockerfile (pulls rust and distroless base images)"
    for image in "${images[@]}"; do
        name=$image:$tag
        old=$(old_id "$name")
        nice -n 10 "$docker" build --target "${dockerfile_target[$image]}" -t "$name" "$repo"
        retag_and_prune "$name" "$old"
    done
    exit 0
fi

if [ -z "$bin_dir" ]; then
    target_dir=${CARGO_TARGET_DIR:-}
    if [ -z "$target_dir" ]; then
        target_dir=$(cd "$repo" && "$cargo" metadata --format-version 1 --no-deps 2>/dev/null |
            sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p') || true
        [ -n "$target_dir" ] || target_dir=$repo/target
    fi
    bin_dir=$target_dir/$profile
    if [ "$build" = 1 ]; then
        flags=()
        [ "$profile" = release ] && flags+=(--release)
        echo "build-images: cargo build ${flags[*]} (convoy-proxy, convoy-control-plane, the demo binaries)"
        (cd "$repo" && nice -n 10 "$cargo" build "${flags[@]}" --locked \
            -p convoy-proxy -p convoy-control-plane -p convoy-examples --bins)
    fi
fi
[ -d "$bin_dir" ] || die "binary directory $bin_dir does not exist (build first, or see --help)"
for bin in "${entry[@]}" "$helper"; do
    [ -x "$bin_dir/$bin" ] || die "$bin_dir/$bin not found: build it first (\`cargo build -p convoy-proxy -p convoy-control-plane -p convoy-examples --bins\`, with --release for target/release)"
done

staging=$(mktemp -d "${TMPDIR:-/tmp}/convoy-images.XXXXXX")
trap 'rm -rf "$staging"' EXIT

# Copies the shared libraries and the dynamic loader $1 needs into the root $2, at the paths
# `ldd` names (the loader's must be exact: it is written in the binary).
copy_libraries() {
    local binary=$1 root=$2 out lib
    out=$(ldd "$binary" 2>&1) || true
    if grep -q 'not a dynamic executable\|statically linked' <<<"$out"; then
        return 0
    fi
    if grep -q 'not found' <<<"$out"; then
        die "$binary links libraries this machine lacks: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"
    fi
    # `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and `/lib64/ld-linux-x86-64.so.2 (0x...)`
    while read -r lib; do
        [ -n "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out")
}

# Lays out the root file system of one image in $1.
assemble() {
    local image=$1 context=$2 root=$2/rootfs bin
    mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$context/data/ca"
    chmod 1777 "$root/tmp"
    chmod 700 "$context/data/ca"
    for bin in "${entry[$image]}" "$helper"; do
        if [ "$strip_symbols" = 1 ]; then
            strip -o "$root/usr/local/bin/$bin" "$bin_dir/$bin" 2>/dev/null ||
                cp "$bin_dir/$bin" "$root/usr/local/bin/$bin"
        else
            cp "$bin_dir/$bin" "$root/usr/local/bin/$bin"
        fi
        copy_libraries "$bin_dir/$bin" "$root"
    done
    for certs in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
        if [ -f "$certs" ]; then
            cp -L "$certs" "$root/etc/ssl/certs/ca-certificates.crt"
            break
        fi
    done
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
    cat >"$context/Dockerfile" <<EOF
FROM scratch
COPY rootfs/ /
# The control plane's CA directory (a volume in compose): owned by the user that runs.
COPY --chown=65532:65532 data/ /var/lib/convoy/
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/convoy
LABEL org.opencontainers.image.title="$image" \\
      org.opencontainers.image.revision="$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)" \\
      org.opencontainers.image.description="Convoy $image, built from $bin_dir"
ENTRYPOINT ["/usr/local/bin/${entry[$image]}"]
EOF
}

echo "build-images: images from $bin_dir (tag $tag)"
for image in "${images[@]}"; do
    context=$staging/$image
    mkdir -p "$context"
    assemble "$image" "$context"
    name=$image:$tag
    old=$(old_id "$name")
    nice -n 10 "$docker" build -q -t "$name" "$context" >/dev/null 2>"$staging/build.log" ||
        die "docker build of $name failed: $(cat "$staging/build.log")"
    rm -rf "$context"
    retag_and_prune "$name" "$old"
done
