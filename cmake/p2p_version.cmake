# Writes OUT (p2p_version.h) from TEMPLATE with VERSION and the git commit
# of SOURCE_DIR, at every build (cmake -P): the commit is the one the
# binaries are built from, not the one the build tree was configured at.
# configure_file leaves OUT untouched when its text would not change, so
# nothing is recompiled unless the commit or the version moved.
# COMMIT, when not empty, is used as is (a packager building from a
# tarball names the commit it came from).
set(P2P_VERSION "${VERSION}")
set(P2P_COMMIT "${COMMIT}")
if(P2P_COMMIT STREQUAL "")
  set(P2P_COMMIT "unknown")
  find_program(GIT_EXECUTABLE git)
  # Only this tree's own history: a tarball unpacked inside another
  # repository's work tree must not take that repository's commit.
  if(GIT_EXECUTABLE AND EXISTS "${SOURCE_DIR}/.git")
    execute_process(COMMAND ${GIT_EXECUTABLE} -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
      OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE rc ERROR_QUIET)
    if(rc EQUAL 0 AND head MATCHES "^[0-9a-f]+$")
      set(P2P_COMMIT "${head}")
      execute_process(COMMAND ${GIT_EXECUTABLE} -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
        OUTPUT_VARIABLE changes RESULT_VARIABLE rc ERROR_QUIET)
      if(rc EQUAL 0 AND NOT changes STREQUAL "")
        string(APPEND P2P_COMMIT "-dirty")
      endif()
    endif()
  endif()
endif()
configure_file("${TEMPLATE}" "${OUT}" @ONLY)
