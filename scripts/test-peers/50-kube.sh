# The real Kubernetes control plane for the real-API-server tier (issue 14): kube-apiserver,
# kube-controller-manager and kubectl from k8s.io/kubernetes v1.37.2, etcd v3.7.0 (the version that
# release pins), all from the pinned module in go/kube/. Cold: ~10 min on 2 cores, ~150 MB downloaded into
# the Go module cache, ~300 MB of binaries cached. The ~4 GB build cache goes to a temporary GOCACHE that
# is removed afterwards (only the binaries are worth keeping).
_kube_peers=(kube-apiserver kube-controller-manager kubectl)
_kube_missing=0
for _p in "${_kube_peers[@]}"; do [ -x "$EDGETWIN_PEER_CACHE/bin/$_p-v1.37.2" ] || _kube_missing=1; done
[ -x "$EDGETWIN_PEER_CACHE/bin/etcd-v3.7.0" ] || _kube_missing=1
if [ "$_kube_missing" = 1 ]; then
  _kube_gocache=$(mktemp -d "${TMPDIR:-/tmp}/edgetwin-kube-gocache.XXXXXX")
  _kube_rc=0
  (
    export GOCACHE="$_kube_gocache"
    _go=scripts/test-peers/go/kube
    # The release's version, as its own build stamps it (kubectl compares client and server versions).
    _v="-X k8s.io/component-base/version.gitVersion=v1.37.2 -X k8s.io/component-base/version.gitMajor=1"
    _v="$_v -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitVersion=v1.37.2"
    _v="$_v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"
    go_build_peer etcd v3.7.0 "$_go" go.etcd.io/etcd/server/v3 -ldflags="-s -w" &&
      for _p in "${_kube_peers[@]}"; do
        go_build_peer "$_p" v1.37.2 "$_go" "k8s.io/kubernetes/cmd/$_p" -ldflags="-s -w $_v" || exit 1
      done
  ) || _kube_rc=$?
  rm -rf "$_kube_gocache"
  [ "$_kube_rc" = 0 ] || { echo "test-setup: building the Kubernetes peers failed" >&2; return 1 2>/dev/null || exit 1; }
fi
unset _kube_peers _kube_missing _kube_gocache _kube_rc _p _v
