# InfluxDB for the influxdb2 sink tests (issue 17): OSS 1.8.10 from its Go module. 1.8 is the last release
# that is pure Go (1.9+ links Flux's Rust library); it serves the v2 write API (/api/v2/write) that the
# influxdb2 sink speaks, with the 1.x conventions (token user:password, bucket db/rp).
go_build_peer influxd v1.8.10 scripts/test-peers/go/influxdb github.com/influxdata/influxdb/cmd/influxd
