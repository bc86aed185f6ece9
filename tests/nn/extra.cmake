# --- nn core (matmul, linear, params, optimizers) ------------------------------
# The optimizer driver: runs greentune's optimizers on data written by
# test_optimizer_torch.py, which compares them with torch.optim.
add_executable(nn_optimizer_driver ${area_dir}/optimizer_driver.c)
target_link_libraries(nn_optimizer_driver PRIVATE greentune_static)
set_property(TEST nn_test_optimizer_torch APPEND PROPERTY ENVIRONMENT
  "GREENTUNE_NN_OPTIMIZER_DRIVER=$<TARGET_FILE:nn_optimizer_driver>")
# --- end nn core -----------------------------------------------------------------
