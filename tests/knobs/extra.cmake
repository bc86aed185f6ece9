# The GPU power cap test loads the fake NVML library (tests/energy/extra.cmake).
set_property(TEST knobs_test_gpu_power_cap APPEND PROPERTY ENVIRONMENT "FAKE_NVML_LIB=$<TARGET_FILE:fake_nvml>")
add_dependencies(knobs_test_gpu_power_cap fake_nvml)
# The sysfs knobs' test must never reach a real NVIDIA driver (a GPU machine runs
# this suite too): power_cap device=gpu there finds no library.
set_property(TEST knobs_test_machine APPEND PROPERTY ENVIRONMENT "GREENTUNE_NVML_LIB=/nonexistent/libnvidia-ml.so.1")
