# Scenario tests: every scenarios/*.yaml runs in the simulator with the
# invariant checker on and must meet its expectations.
# scenarios/regressions/ holds shrunk scenarios of failures the swarm found.
file(GLOB SCENARIO_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/scenarios/*.yaml
     ${CMAKE_SOURCE_DIR}/scenarios/regressions/*.yaml)
foreach(file ${SCENARIO_FILES})
  get_filename_component(name ${file} NAME_WE)
  add_test(NAME scenario.${name}
           COMMAND $<TARGET_FILE:p2p-sim> run ${file} --quiet --invariants)
  set_tests_properties(scenario.${name} PROPERTIES TIMEOUT 900)
endforeach()

# Determinism: same seed twice gives identical traces, another seed differs,
# and --check-determinism finds no divergence.
add_test(NAME sim.determinism
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/determinism.sh $<TARGET_FILE:p2p-sim>
                 ${CMAKE_CURRENT_SOURCE_DIR}/data/determinism.yaml)
# Bad input exits 2 and names the file and line.
add_test(NAME sim.bad_scenario
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bad-input.sh $<TARGET_FILE:p2p-sim>
                 ${CMAKE_CURRENT_SOURCE_DIR}/data)
# Acknowledgements taken by their node before it next acts change nothing
# but the missing arrival lines and the event count (sim/inbox.c): against
# --acks-as-events, in scenarios with crashes, partitions, churn, byzantine
# peers and state sync.
add_test(NAME sim.acks_taken_lazily
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/acks-taken-lazily.sh $<TARGET_FILE:p2p-sim>
                 ${CMAKE_CURRENT_SOURCE_DIR}/data/determinism.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/crash-restart.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/partition-heal.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/membership-churn.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/byzantine-silent.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/clock-skew.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/regressions/swarm-700920-byzantine-creator.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/state-sync-crash-resume.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/state-sync-byzantine.yaml)
set_tests_properties(sim.acks_taken_lazily PROPERTIES TIMEOUT 900)
