# GPU tests (label gpu). Each reports itself skipped (exit 77, with the reason)
# where there is no usable NVIDIA GPU, driver or CUDA build — never passed.
# scripts/gpu-check.sh runs them on a GPU machine: ctest -L gpu.
foreach(source ${c_tests} ${sh_tests})
  get_filename_component(name ${source} NAME_WE)
  set_tests_properties(gpu_${name} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
target_link_libraries(gpu_test_nvml_counter PRIVATE Threads::Threads)
# The parity and kernel tests are the nn tests' programs pointed at the GPU.
add_test(NAME gpu_model_parity COMMAND nn_test_gpu_model cuda WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_test(NAME gpu_kernels COMMAND nn_test_dev_ops cuda WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(gpu_model_parity gpu_kernels PROPERTIES LABELS gpu ENVIRONMENT "${GREENTUNE_TEST_ENV}"
  TIMEOUT 600 SKIP_RETURN_CODE 77)
target_include_directories(gpu_test_power_cap PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../knobs)
