# The report tests share a fixture builder: the C tests link it, the Python
# tests run it as a program (GREENTUNE_FIXTURE_DB) to make a run store.
set(report_dir ${CMAKE_CURRENT_SOURCE_DIR}/report)
add_executable(report_fixture_db ${report_dir}/fixture_db.c ${report_dir}/fixture.c)
target_link_libraries(report_fixture_db PRIVATE greentune_static)
file(GLOB report_c_tests CONFIGURE_DEPENDS ${report_dir}/test_*.c)
foreach(source ${report_c_tests})
  get_filename_component(name ${source} NAME_WE)
  target_sources(report_${name} PRIVATE ${report_dir}/fixture.c)
endforeach()
file(GLOB report_tests CONFIGURE_DEPENDS ${report_dir}/test_*.c ${report_dir}/test_*.py ${report_dir}/test_*.sh)
foreach(source ${report_tests})
  get_filename_component(name ${source} NAME_WE)
  set_tests_properties(report_${name} PROPERTIES ENVIRONMENT
    "${GREENTUNE_TEST_ENV};GREENTUNE_FIXTURE_DB=$<TARGET_FILE:report_fixture_db>;GREENTUNE_REPORT_FIXTURE=${CMAKE_SOURCE_DIR}/tests/fixtures/report/experiment.json")
endforeach()
