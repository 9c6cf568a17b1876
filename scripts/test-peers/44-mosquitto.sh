# Mosquitto: the external-broker interop tests (eventbus, devicetwin, cloud link) and bench/nodered.ts
# (issue 15: Node-RED and edgetwin publishing to the same Mosquitto). Debian's package; never started as a
# service here: tests and benches run their own on an ephemeral loopback port.
apt_need mosquitto mosquitto-clients
