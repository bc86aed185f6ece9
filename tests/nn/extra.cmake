# nn ops tests: shared gradient-check helpers, and the small driver program the
# PyTorch comparison (test_ops_torch.py) runs on raw float32 files.
add_library(nn_ops_testlib STATIC ${CMAKE_CURRENT_LIST_DIR}/gradcheck.c)
target_include_directories(nn_ops_testlib PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(nn_ops_testlib PUBLIC greentune_test_support)
foreach(source ${c_tests})
  get_filename_component(name ${source} NAME_WE)
  target_link_libraries(nn_${name} PRIVATE nn_ops_testlib)
endforeach()
# The gradient checks run thousands of tiny parallel regions; with ctest -j on a
# loaded machine, OpenMP threads spinning at barriers then steal the cores
# their partners need (a 0.1 s test took 11 s). Sleeping waits keep it short.
foreach(source ${c_tests} ${py_tests})
  get_filename_component(name ${source} NAME_WE)
  set_property(TEST nn_${name} APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
endforeach()

add_executable(nn_ops_driver ${CMAKE_CURRENT_LIST_DIR}/ops_driver.c)
target_link_libraries(nn_ops_driver PRIVATE greentune_static)
set_property(TEST nn_test_ops_torch APPEND PROPERTY ENVIRONMENT "GREENTUNE_NN_OPS_DRIVER=$<TARGET_FILE:nn_ops_driver>")
# --- nn core (matmul, linear, params, optimizers) ------------------------------
# The optimizer driver: runs greentune's optimizers on data written by
# test_optimizer_torch.py, which compares them with torch.optim.
add_executable(nn_optimizer_driver ${area_dir}/optimizer_driver.c)
target_link_libraries(nn_optimizer_driver PRIVATE greentune_static)
set_property(TEST nn_test_optimizer_torch APPEND PROPERTY ENVIRONMENT
  "GREENTUNE_NN_OPTIMIZER_DRIVER=$<TARGET_FILE:nn_optimizer_driver>")
set_property(TEST nn_test_adafactor_torch APPEND PROPERTY ENVIRONMENT
  "GREENTUNE_NN_OPTIMIZER_DRIVER=$<TARGET_FILE:nn_optimizer_driver>")
# --- end nn core -----------------------------------------------------------------
# --- nn models (bert, modernbert) ------------------------------------------------
# The model driver: runs a model on weights and inputs written by
# test_model_parity.py, which compares it with the same model in PyTorch.
add_executable(nn_model_driver ${area_dir}/model_driver.c)
target_link_libraries(nn_model_driver PRIVATE greentune_static)
set_property(TEST nn_test_model_parity APPEND PROPERTY ENVIRONMENT
  "GREENTUNE_NN_MODEL_DRIVER=$<TARGET_FILE:nn_model_driver>")
# --- end nn models ---------------------------------------------------------------
# --- nn knobs (LoRA, pruning) against PyTorch, through the model driver -----------
set_property(TEST nn_test_knob_parity APPEND PROPERTY ENVIRONMENT
  "GREENTUNE_NN_MODEL_DRIVER=$<TARGET_FILE:nn_model_driver>")
