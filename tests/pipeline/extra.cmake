# The pipeline area's helper program: metrics on cases from stdin, compared with
# scikit-learn by test_metrics_sklearn.py.
add_executable(pipeline_metrics_driver ${CMAKE_CURRENT_LIST_DIR}/metrics_driver.c)
target_link_libraries(pipeline_metrics_driver PRIVATE greentune_static)
set_property(TEST pipeline_test_metrics_sklearn APPEND PROPERTY ENVIRONMENT
  "GREENTUNE_METRICS_DRIVER=$<TARGET_FILE:pipeline_metrics_driver>")
