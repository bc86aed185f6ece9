# Fault injection: libgt_fault.so (fault/gt_fault.c) makes chosen write, sync
# and rename calls fail; ctest preloads it into every fault/test_* program.
# It is built without sanitizers and preloaded ahead of the sanitizer runtime,
# which is told not to mind (verify_asan_link_order=0).
add_library(gt_fault SHARED ${CMAKE_CURRENT_SOURCE_DIR}/fault/gt_fault.c)
target_compile_options(gt_fault PRIVATE -fno-sanitize=all)
target_link_options(gt_fault PRIVATE -fno-sanitize=all)
target_link_libraries(gt_fault PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
set_target_properties(gt_fault PROPERTIES C_VISIBILITY_PRESET default)
file(GLOB fault_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fault/test_*.c)
foreach(source ${fault_sources})
  get_filename_component(name ${source} NAME_WE)
  add_dependencies(fault_${name} gt_fault)
  set_tests_properties(fault_${name} PROPERTIES ENVIRONMENT "${GREENTUNE_TEST_ENV};LD_PRELOAD=$<TARGET_FILE:gt_fault>;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0")
endforeach()
