# --report: the HTML report opens in headless Chromium without console
# messages and with every plot drawn (tests/report-browser.sh).
add_test(NAME sim.report_browser
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/report-browser.sh
                 $<TARGET_FILE:p2p-sim>
                 ${CMAKE_SOURCE_DIR}/scenarios/partition-heal.yaml)
set_tests_properties(sim.report_browser PROPERTIES TIMEOUT 300)
