# The sweep tests run the tiny pipeline in child processes; on a loaded machine
# (ctest -j, ASan) OpenMP threads spinning at barriers steal the cores their
# partners need. Sleeping waits keep the runs short (results do not depend on it).
foreach(name test_experiment_file test_sweep test_sweep_resume test_sweep_db test_search_cli
             test_sweep_machine_state)
  if(TEST experiment_${name})
    set_property(TEST experiment_${name} APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
  endif()
endforeach()

# The paper's variants on the real corpus: "skipped" (exit 77) without `make data`.
if(TEST experiment_test_paper_runs)
  set_tests_properties(experiment_test_paper_runs PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 3600)
  set_property(TEST experiment_test_paper_runs APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
endif()
