# The pipeline area's helper program: metrics on cases from stdin, compared with
# scikit-learn by test_metrics_sklearn.py.
add_executable(pipeline_metrics_driver ${CMAKE_CURRENT_LIST_DIR}/metrics_driver.c)
target_link_libraries(pipeline_metrics_driver PRIVATE greentune_static)
set_property(TEST pipeline_test_metrics_sklearn APPEND PROPERTY ENVIRONMENT
  "GREENTUNE_METRICS_DRIVER=$<TARGET_FILE:pipeline_metrics_driver>")
# The real corpus test reports "skipped" (exit 77) without `make data`.
set_tests_properties(pipeline_test_spam_real PROPERTIES SKIP_RETURN_CODE 77)
# Runs train with 2 OpenMP threads; on a loaded machine (ctest -j, ASan) threads
# spinning at barriers steal the cores their partners need. Sleeping waits keep
# the runs short (results do not depend on it).
foreach(source ${c_tests} ${py_tests})
  get_filename_component(name ${source} NAME_WE)
  set_property(TEST pipeline_${name} APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
endforeach()
