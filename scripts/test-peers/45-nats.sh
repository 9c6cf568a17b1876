# nats-server for the cloud link on a broker cluster (issue 14): a 3-member cluster with MQTT and
# JetStream, started by packages/device-controller/test/nats-cluster.ts. Built once from the pinned
# module in go/nats/ (about 15 s here; about 50 MB of module zips downloaded once, most of it klauspost/compress; a 17 MB binary).
go_build_peer nats-server v2.15.3 scripts/test-peers/go/nats github.com/nats-io/nats-server/v2 -ldflags="-s -w"
