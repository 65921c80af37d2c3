#!/usr/bin/env bash
# A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on this
# machine, for the conformance suite (tests/it/conformance.rs).
#
#   scripts/real-k8s.sh build          build the binaries once from Debian's `kubernetes` source
#                                      package (1.20.2), cached in $K8S_CACHE
#                                      (default ~/.cache/rollout-real-k8s), ~5 minutes on 2 cores
#   scripts/real-k8s.sh test [ARGS]    inside a private network namespace: start the control
#                                      plane, join the embedded cluster's node agent and ingress
#                                      to it, run the conformance tests against it (ARGS: test
#                                      filters and options, default `conformance::
#                                      differential:: interruption::`), stop
#                                      everything
#
# A real API server refuses Endpoints in 127.0.0.0/8, so the pods get addresses in
# 10.244.0.0/16, which exist only on the loopback device of the namespace this script creates:
# nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollout-real-k8s}
VERSION=1.20.2
# The build: the version, plus a mark that changes when the way it is built changes.
BUILD=$VERSION-reflect2-1.0.2
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need_packages() {
  local missing=()
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v go >/dev/null || missing+=(golang-go)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v unshare >/dev/null || missing+=(util-linux)
  command -v curl >/dev/null || missing+=(curl)
  command -v rsync >/dev/null || missing+=(rsync)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || missing+=(golang-github-modern-go-reflect2-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# The machine's main Debian archive and suite ("URI SUITE"): the first binary entry of its APT
# sources (deb822 `.sources` files or one-line `.list` files) that is not the security archive,
# with its first suite that is not an -updates, -security or -backports one.
apt_source() {
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null
    echo
    grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -E 's/\[[^]]*\]//' | awk '{ printf "Types: deb\nURIs: %s\nSuites: %s\n\n", $2, $3 }'
  } | awk '
    /^[[:space:]]*$/ { if (types ~ /(^| )deb( |$)/ && uri != "" && uri !~ /security/ && suite != "") { print uri, suite; exit }
                       types = ""; uri = ""; suite = ""; next }
    /^Types:/ { $1 = ""; types = $0 " " }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-(updates|security|backports)$/) { suite = $i; break } }
    END { if (types ~ /(^| )deb( |$)/ && uri != "" && uri !~ /security/ && suite != "") print uri, suite }
  ' | head -1
}

build() {
  if [ -x "$CACHE/$BUILD/kube-apiserver" ] && [ -x "$CACHE/$BUILD/kube-controller-manager" ]; then
    return 0
  fi
  need_packages
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/lists/partial"
  chmod -R a+rwX "$work"
  # A deb-src entry for the machine's own Debian archive and suite (read from its APT
  # sources, so a mirror or proxy the machine uses is used here too), only for this download.
  local uri suite
  read -r uri suite < <(apt_source) || { echo "no Debian archive found in the APT sources" >&2; exit 1; }
  cat > "$work/sources.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work" -o "Dir::State::Lists=$work/lists")
  apt-get "${opts[@]}" update -qq
  (cd "$work" && apt-get "${opts[@]}" source --download-only kubernetes >/dev/null && tar xzf kubernetes_*.orig.tar.gz)
  local src; src=$(ls -d "$work"/kubernetes-*/ | head -1)
  # Kubernetes 1.20 vendors reflect2 1.0.1, whose map iteration crashes the API server
  # (SIGSEGV in mapiterinit) when built with Go 1.18 or later; Debian ships 1.0.2, which
  # does not.
  rsync -a --delete /usr/share/gocode/src/github.com/modern-go/reflect2/ "$src/vendor/github.com/modern-go/reflect2/"
  echo "building kube-apiserver and kube-controller-manager $VERSION (about 5 minutes)..." >&2
  # GOPATH laid out as Debian's rules do: the tree seen as k8s.io/kubernetes.
  (cd "$src" && mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes \
    && env GOPATH="$src/.go" CGO_ENABLED=0 HOME="$work/home" GOFLAGS=-mod=vendor \
       make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$work/build.log" 2>&1) \
    || { tail -30 "$work/build.log" >&2; exit 1; }
  mkdir -p "$CACHE/$BUILD"
  cp "$src"/_output/local/bin/linux/amd64/kube-{apiserver,controller-manager} "$CACHE/$BUILD/"
}

# Runs inside the network namespace: the control plane, the node agent, the ingress, the suite.
inside() {
  local run="$1"; shift
  ip link set lo up
  ip addr add 10.244.0.1/16 dev lo
  local bin="$CACHE/$BUILD"
  cd "$run"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  echo "admintoken,admin,admin,system:masters" > tokens.csv
  etcd --data-dir "$run/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 >etcd.log 2>&1 &
  "$bin/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=10.244.0.1 --secure-port=6443 \
    --advertise-address=10.244.0.1 --cert-dir="$run/certs" --token-auth-file=tokens.csv \
    --authorization-mode=Node,RBAC --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file=sa.pub --service-account-signing-key-file=sa.key \
    --service-cluster-ip-range=10.96.0.0/16 >apiserver.log 2>&1 &
  cat > kubeconfig <<KC
apiVersion: v1
kind: Config
clusters:
- name: real
  cluster: {server: "https://10.244.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: admintoken}
contexts:
- name: real
  context: {cluster: real, user: admin, namespace: default}
current-context: real
KC
  for _ in $(seq 120); do
    curl -skf -H "Authorization: Bearer admintoken" https://10.244.0.1:6443/readyz >/dev/null && break
    sleep 0.5
  done
  "$bin/kube-controller-manager" --kubeconfig=kubeconfig --service-account-private-key-file=sa.key \
    --root-ca-file="$run/certs/apiserver.crt" --leader-elect=false --secure-port=0 --port=0 \
    --controllers='*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle' >cm.log 2>&1 &
  ./rollout-bin sim node --kubeconfig kubeconfig --name real-node-1 --pod-cidr 10.244.1.0/24 \
    --node-ip 10.244.0.1 --speed 10 >node.log 2>&1 &
  # The ingress listens on the namespace's own loopback address: the suite's traffic
  # generator sends to loopback only. Its metrics listen on the namespace's 10.244.0.1: that
  # is its controller pods' IP, and the API server's pod proxy refuses loopback pod IPs.
  ROLLOUT_LOG="${INGRESS_LOG:-warn}" ./rollout-bin sim ingress --kubeconfig kubeconfig --listen 127.0.0.1:8080 \
    --tls-listen 127.0.0.1:8443 --metrics-listen 10.244.0.1:10254 >ingress.log 2>&1 &
  export ROLLOUT_CONFORMANCE_KUBECONFIG="$run/kubeconfig"
  export ROLLOUT_CONFORMANCE_INGRESS=127.0.0.1:8080
  # Wait for the node to register (the API server needs it to schedule and bind pods).
  for _ in $(seq 60); do
    KUBECONFIG=kubeconfig kubectl get node real-node-1 >/dev/null 2>&1 && break
    sleep 0.5
  done
  local status=0
  set +e
  if [ -n "${RUN_INSTEAD:-}" ]; then
    (cd "$ROOT" && KUBECONFIG="$run/kubeconfig" bash -c "$RUN_INSTEAD" 2>&1 | tee "$run/suite.log"; exit "${PIPESTATUS[0]}")
  else
    if [ $# -gt 0 ]; then
      (cd "$ROOT" && cargo test --locked -p rollout --test it -- "$@" 2>&1 | tee "$run/suite.log"; exit "${PIPESTATUS[0]}")
    else
      # The differential test compares what both clusters show over time: it runs alone, so
      # that the load of the other scenarios does not change what it sees.
      (cd "$ROOT" && { cargo test --locked -p rollout --test it -- differential:: --test-threads=1 \
          && cargo test --locked -p rollout --test it -- conformance:: interruption::; } 2>&1 \
          | tee "$run/suite.log"; exit "${PIPESTATUS[0]}")
    fi
  fi
  status=$?
  set -e
  cp "$run/suite.log" "${ROLLOUT_SUITE_LOG:-/tmp/rollout-conformance.log}" 2>/dev/null || true
  if [ $status -ne 0 ]; then
    for f in apiserver cm node ingress; do echo "== $f.log (tail)" >&2; tail -20 "$run/$f.log" >&2 || true; done
  fi
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  return $status
}

test_real() {
  build
  need_packages
  # The test build's binary (dependencies optimised): no second, release build to wait for.
  cargo build --locked --quiet
  local run; run=$(mktemp -d)
  cp "${CARGO_TARGET_DIR:-target}/debug/rollout" "$run/rollout-bin"
  ROOT="$PWD" $SUDO unshare -n env ROOT="$PWD" PATH="$PATH" HOME="$HOME" RUN_INSTEAD="${RUN_INSTEAD:-}" INGRESS_LOG="${INGRESS_LOG:-}" \
    ROLLOUT_DIFFERENTIAL_RECORD="${ROLLOUT_DIFFERENTIAL_RECORD:-}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
    RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" \
    bash "$0" __inside "$run" "$@"
}

case "${1:-}" in
  build) build ;;
  test) shift; test_real "$@" ;;
  apt-source) apt_source ;;
  __inside) shift; inside "$@" ;;
  *) echo "usage: $0 build | test [cargo test args]" >&2; exit 2 ;;
esac
