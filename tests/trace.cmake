# p2p-sim trace: filters a trace by node, artifact, peer, kind and virtual
# time, checked against an independent awk reading of the same trace; a bad
# flag or a malformed line exits 2 naming the flag or FILE:LINE.
add_test(NAME sim.trace_filter
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/trace-filter.sh $<TARGET_FILE:p2p-sim>
                 ${CMAKE_CURRENT_LIST_DIR}/data/determinism.yaml
                 ${CMAKE_SOURCE_DIR}/docs/trace-format.md)
set_tests_properties(sim.trace_filter PROPERTIES TIMEOUT 300)
