# The energy tests' extras: the fake powercap tree helper, and a fake NVML
# library that the NVML tests load through GREENTUNE_NVML_LIB.
foreach(test energy_test_rapl energy_test_tasks energy_test_sampler energy_test_forecast energy_test_meter_lost)
  target_sources(${test} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/energy/fake_rapl.c)
endforeach()

add_library(fake_nvml SHARED ${CMAKE_CURRENT_SOURCE_DIR}/energy/fake_nvml.c)
set_target_properties(fake_nvml PROPERTIES C_VISIBILITY_PRESET default)
foreach(test energy_test_nvml energy_test_thermal energy_test_measure_cli energy_test_meter_lost)
  set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT "FAKE_NVML_LIB=$<TARGET_FILE:fake_nvml>")
endforeach()
add_dependencies(energy_test_nvml fake_nvml)
add_dependencies(energy_test_thermal fake_nvml)
add_dependencies(energy_test_meter_lost fake_nvml)

# A fake AMD SMI / ROCm SMI library for the AMD GPU tests.
add_library(fake_amdsmi SHARED ${CMAKE_CURRENT_SOURCE_DIR}/energy/fake_amdsmi.c)
set_target_properties(fake_amdsmi PROPERTIES C_VISIBILITY_PRESET default)
set_property(TEST energy_test_rocm APPEND PROPERTY ENVIRONMENT "FAKE_AMDSMI_LIB=$<TARGET_FILE:fake_amdsmi>")
add_dependencies(energy_test_rocm fake_amdsmi)

# A short run of the overhead benchmark, so it keeps working (it asserts no speed).
add_test(NAME energy_bench_measure_overhead COMMAND measure_overhead 0.5)
set_tests_properties(energy_bench_measure_overhead PROPERTIES LABELS "energy;bench" TIMEOUT 120
  ENVIRONMENT "${GREENTUNE_TEST_ENV}")

# A short run of the monitor's overhead benchmark, so it keeps working (no speed asserted).
add_test(NAME energy_bench_monitor_overhead COMMAND monitor_overhead 1)
set_tests_properties(energy_bench_monitor_overhead PROPERTIES LABELS "energy;bench" TIMEOUT 120
  ENVIRONMENT "${GREENTUNE_TEST_ENV}")

# These drive fake counters from the test's own clock and the measured
# process's CPU time: alone on the machine, no other test steals their cycles.
foreach(name calibrate_cli thermal_cli file_meter)
  if(TEST energy_test_${name})
    set_tests_properties(energy_test_${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()
