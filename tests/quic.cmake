# The quic network model (sim/quic_model.h): the replica's own QUIC
# endpoint in the simulator. Scenarios whose file says network.model: quic
# run with the others (tests/scenarios.cmake); here the message model's
# scenarios run on the quic model too, with the same expectations.
# Label "quic" for the short ones; the longer ones carry "quic-long", which
# ./ci/test leaves out (run them with ctest -L quic-long).
set(QUIC_SHORT quickstart byzantine-slow-reader partition-heal crash-restart
    membership-churn registry-earliest slot-deletions
    state-sync-manifest-chunks state-sync-thin-downlink state-sync-1gib)
# thin-links and state-sync-crash-resume are not here: their bounds hold
# on the message model only (docs/limitations.md says why).
set(QUIC_LONG byzantine-advert-flood byzantine-garbage byzantine-oversize
    byzantine-silent byzantine-stale-commit byzantine-wrong-bytes clock-skew
    consensus-wan height-purge large-artifacts lossy relay-advert
    state-sync-byzantine state-sync-race)
foreach(name ${QUIC_SHORT} ${QUIC_LONG})
  add_test(NAME quic.${name}
           COMMAND $<TARGET_FILE:p2p-sim> run ${CMAKE_SOURCE_DIR}/scenarios/${name}.yaml
                   --model quic --quiet --invariants)
  if(name IN_LIST QUIC_SHORT)
    # Not under the sanitizers (label slow): a minute each there.
    set_tests_properties(quic.${name} PROPERTIES TIMEOUT 900 LABELS "quic;slow")
  else()
    set_tests_properties(quic.${name} PROPERTIES TIMEOUT 1800 LABELS quic-long)
  endif()
endforeach()
# Same seed, same trace on the quic model: --check-determinism runs the
# scenario twice in one process and names the first line that differs.
add_test(NAME quic.determinism
         COMMAND $<TARGET_FILE:p2p-sim> run ${CMAKE_SOURCE_DIR}/scenarios/quic-lossy-nat.yaml
                 --quiet --check-determinism)
set_tests_properties(quic.determinism PROPERTIES TIMEOUT 900 LABELS quic)
