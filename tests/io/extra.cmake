# The io area's helper program for the Python parity test.
add_executable(io_st_tool ${CMAKE_CURRENT_SOURCE_DIR}/io/st_tool.c)
target_link_libraries(io_st_tool PRIVATE greentune_static)
set_property(TEST io_test_safetensors_parity APPEND PROPERTY ENVIRONMENT "GREENTUNE_ST_TOOL=$<TARGET_FILE:io_st_tool>")
