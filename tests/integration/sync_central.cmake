# The central role end to end (tests/integration/sync/central.sh): two
# gateways push to a central node built from examples/central.yaml and
# examples/gateway-to-central.yaml; needs node (the recording forwarder).
ne_add_script_test(NAME integration_sync_central SCRIPT sync/central.sh LABELS integration
                   TIMEOUT 240)
ne_add_script_test(NAME integration_sync_central_cluster SCRIPT sync/central_cluster.sh LABELS integration
                   TIMEOUT 240)
