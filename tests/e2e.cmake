# End-to-end tests of the production replica on loopback (tests/e2e/*.sh):
# real processes, QUIC with mutual TLS, the admin API. Each is bounded in
# time and they run one at a time (they share the machine's two cores).
if(TARGET p2p-replica)
  file(GLOB E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/e2e/*.sh)
  list(REMOVE_ITEM E2E_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/e2e/lib.sh)
  foreach(script ${E2E_TESTS})
    get_filename_component(name ${script} NAME_WE)
    add_test(NAME e2e.${name} COMMAND bash ${script})
    set_tests_properties(e2e.${name} PROPERTIES
      ENVIRONMENT "REPLICA=$<TARGET_FILE:p2p-replica>"
      LABELS e2e TIMEOUT 240 RESOURCE_LOCK e2e_ports)
  endforeach()
endif()
