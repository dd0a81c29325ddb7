# p2p-sim run --metrics: node files in Prometheus text format, the time
# series (one row per sample and running node, counters never going down),
# crashed nodes' last values, the same trace with and without --metrics,
# bad flags, and every family documented in docs/metrics.md
# (tests/metrics.sh; sh and awk only).
add_test(NAME sim.metrics
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/metrics.sh $<TARGET_FILE:p2p-sim>
                 ${CMAKE_SOURCE_DIR}/scenarios/quickstart.yaml
                 ${CMAKE_CURRENT_SOURCE_DIR}/data
                 ${CMAKE_SOURCE_DIR}/docs/metrics.md)
set_tests_properties(sim.metrics PROPERTIES TIMEOUT 900)

# --metrics-format openmetrics: DIR/metrics.om loads into TSDB blocks with
# promtool, every sample with a node label and a timestamp, the same file
# from the same run, the trace unchanged (tests/metrics-openmetrics.sh).
add_test(NAME sim.metrics_openmetrics
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/metrics-openmetrics.sh
                 $<TARGET_FILE:p2p-sim> ${CMAKE_CURRENT_SOURCE_DIR}/data/determinism.yaml)
set_tests_properties(sim.metrics_openmetrics PROPERTIES TIMEOUT 600)

# One vocabulary: the shared families of docs/metrics.md have the same
# series in a simulation's node file and a live replica's /metrics
# (tests/metrics-vocabulary.sh).
if(TARGET p2p-replica)
  add_test(NAME metrics.vocabulary
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metrics-vocabulary.sh
                   $<TARGET_FILE:p2p-sim> ${CMAKE_CURRENT_SOURCE_DIR}/data/determinism.yaml
                   ${CMAKE_SOURCE_DIR}/docs/metrics.md)
  set_tests_properties(metrics.vocabulary PROPERTIES
    ENVIRONMENT "REPLICA=$<TARGET_FILE:p2p-replica>"
    LABELS e2e TIMEOUT 300 RESOURCE_LOCK e2e_ports)
endif()
