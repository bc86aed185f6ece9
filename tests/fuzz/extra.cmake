# Replays every fuzz target (fuzz/fuzz_<name>.c) over its checked-in corpus and
# its regressions (fuzz/regressions/<name>/: inputs that once crashed) through
# fuzz/replay_main.c instead of libFuzzer, so the normal and the sanitizer
# builds re-run them all on every `make test`. The fuzzing itself is the
# separate clang build in fuzz/ (make fuzz).
file(GLOB fuzz_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(source ${fuzz_sources})
  get_filename_component(target ${source} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" name ${target})
  add_executable(fuzz_replay_${name} ${source} ${CMAKE_SOURCE_DIR}/fuzz/replay_main.c)
  target_link_libraries(fuzz_replay_${name} PRIVATE greentune_static)
  set(inputs ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name})
  if(EXISTS ${CMAKE_SOURCE_DIR}/fuzz/regressions/${name})
    list(APPEND inputs ${CMAKE_SOURCE_DIR}/fuzz/regressions/${name})
  endif()
  add_test(NAME fuzz_replay_${name} COMMAND fuzz_replay_${name} ${inputs})
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz ENVIRONMENT "${GREENTUNE_TEST_ENV}" TIMEOUT 300)
endforeach()
