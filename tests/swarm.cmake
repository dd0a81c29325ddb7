# Swarm testing (docs/swarm.md): a fixed batch of random scenarios, each
# run with the invariant checker, must all pass (a few seconds per core in
# a RelWithDebInfo build; labelled slow, so the sanitizer run skips it);
# and p2p-sim shrink on a deliberately failing scenario must write a
# smaller one that fails the same way (tests/swarm-shrink.sh). The nightly
# size is ./ci/swarm.
add_test(NAME sim.swarm
         COMMAND $<TARGET_FILE:p2p-sim> swarm --seeds 20 --from 1 --jobs 2
                 --quiet --out ${CMAKE_CURRENT_BINARY_DIR}/swarm-failures)
set_tests_properties(sim.swarm PROPERTIES TIMEOUT 300 LABELS slow)
add_test(NAME sim.shrink
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/swarm-shrink.sh
                 $<TARGET_FILE:p2p-sim>
                 ${CMAKE_CURRENT_SOURCE_DIR}/data/swarm-shrink.yaml)
set_tests_properties(sim.shrink PROPERTIES TIMEOUT 300)
