# InfluxDB OSS 2.7 for the influxdb2 sink tests (issue 17): the server KubeEdge's dbMethod.influxdb2 names,
# built from its Go module. 2.x links Flux's Rust library (libflux): InfluxData's pkg-config wrapper
# (github.com/influxdata/pkg-config, pinned by the module) runs `cargo build` on the flux module's source
# when cgo asks for it, so cargo and crates.io are needed. Two things make that build work here (found by
# trying, docs/push.md): Flux pins Rust 1.72, which rustup cannot fetch offline, so RUSTUP_TOOLCHAIN names
# the installed default toolchain; and flux-core denies all warnings (feature "strict"), which newer Rust
# turns into errors, so a RUSTC_WRAPPER caps lints at warn (RUSTFLAGS does not reach flux-core: it is also
# a build dependency, compiled for the host). Cold: ~6 min of cargo and ~9 min of Go on 2 loaded cores.
_influx2_out="$EDGETWIN_PEER_CACHE/bin/influxd-v2.7.12"
if [ ! -x "$_influx2_out" ]; then
  command -v cargo >/dev/null || { echo "test-setup: cargo (Rust) is needed to build InfluxDB 2.x's Flux library" >&2; return 1; }
  go_build_peer influx-pkg-config v0.2.14 scripts/test-peers/go/influxdb2 github.com/influxdata/pkg-config
  _influx2_wrap="$EDGETWIN_PEER_CACHE/bin/rustc-cap-lints"
  cat > "$_influx2_wrap" <<'WRAP'
#!/bin/sh
# RUSTC_WRAPPER for Flux's Rust library: cargo runs "$0 rustc ARGS"; lints capped at warn unless cargo capped them
rustc=$1; shift
case " $* " in *" --cap-lints "*) exec "$rustc" "$@" ;; esac
exec "$rustc" "$@" --cap-lints warn
WRAP
  chmod +x "$_influx2_wrap"
  (
    export PKG_CONFIG="$EDGETWIN_PEER_CACHE/bin/influx-pkg-config-v0.2.14"
    export RUSTC_WRAPPER="$_influx2_wrap"
    RUSTUP_TOOLCHAIN="$(rustup default 2>/dev/null | cut -d' ' -f1)"
    export RUSTUP_TOOLCHAIN
    go_build_peer influxd v2.7.12 scripts/test-peers/go/influxdb2 github.com/influxdata/influxdb/v2/cmd/influxd
  )
fi
unset _influx2_out _influx2_wrap
