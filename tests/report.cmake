# --report: the HTML report opens in headless Chromium without console
# messages and with every plot drawn (tests/report-browser.sh).
# partition-heal: its fault bar and table name both groups.
add_test(NAME sim.report_browser
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/report-browser.sh
                 $<TARGET_FILE:p2p-sim>
                 ${CMAKE_SOURCE_DIR}/scenarios/partition-heal.yaml
                 "n0-5 | n6-12" "uplink capacity 119.2 MiB/s")
set_tests_properties(sim.report_browser PROPERTIES TIMEOUT 300)
# state-sync-crash-resume: the state-sync plot, a line per sync (the one a
# crash ended, the resumed one), and the crash bar naming n7.
add_test(NAME sim.report_browser_state_sync
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/report-browser.sh
                 $<TARGET_FILE:p2p-sim>
                 ${CMAKE_SOURCE_DIR}/scenarios/state-sync-crash-resume.yaml
                 "n7 height 1: 512 chunks, 0 reused, crashed at 3.50 s"
                 "265 reused, done in" "+n7")
set_tests_properties(sim.report_browser_state_sync PROPERTIES TIMEOUT 300)

# The bytes-sent plot is truthful: bytes are counted while the uplink
# carries them, so no node's busiest interval exceeds its uplink's
# capacity (thin-links: 10 Mbit links under 8 MiB artifacts).
add_test(NAME sim.report_uplink_capacity
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/report-uplink.sh
                 $<TARGET_FILE:p2p-sim>
                 ${CMAKE_SOURCE_DIR}/scenarios/thin-links.yaml
                 ${CMAKE_SOURCE_DIR}/scenarios/large-artifacts.yaml)
set_tests_properties(sim.report_uplink_capacity PROPERTIES TIMEOUT 300)

# The replay command p2p-sim prints runs as printed from the user's
# directory (binary by a relative path, a scenario path needing quotes)
# and replays the run's trace byte for byte.
add_test(NAME sim.replay_command
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/replay-command.sh
                 $<TARGET_FILE:p2p-sim>
                 ${CMAKE_CURRENT_SOURCE_DIR}/data/determinism.yaml)
set_tests_properties(sim.replay_command PROPERTIES TIMEOUT 300)

# README's --json key list is the output's (keys, nesting and order).
add_test(NAME sim.readme_json
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/readme-json.sh
                 $<TARGET_FILE:p2p-sim> ${CMAKE_SOURCE_DIR}/README.md
                 ${CMAKE_SOURCE_DIR}/scenarios/state-sync-byzantine.yaml)
set_tests_properties(sim.readme_json PROPERTIES TIMEOUT 300)

# SIGINT stops a long run: exit 130, the summary so far (INCOMPLETE, the
# end as duration + drain), the report marked incomplete, a whole trace;
# the progress line before it gives percent, wall time, ETA and the end.
add_test(NAME sim.sigint
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/sigint.sh $<TARGET_FILE:p2p-sim>
                 ${CMAKE_CURRENT_SOURCE_DIR}/data/long-run.yaml)
set_tests_properties(sim.sigint PROPERTIES TIMEOUT 300)
