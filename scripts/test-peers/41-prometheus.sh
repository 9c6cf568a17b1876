# OTLP receiver for the OTEL push tests (issue 17): Prometheus from its Go module, without the service
# discovery plug-ins (~2 min cold), run by the tests with --web.enable-otlp-receiver.
go_build_peer prometheus v0.316.0 scripts/test-peers/go/prometheus github.com/prometheus/prometheus/cmd/prometheus -tags remove_all_sd
