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
