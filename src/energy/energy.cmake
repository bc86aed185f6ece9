# The energy library's own build pieces, included from the top-level
# CMakeLists.txt after the library targets exist.

# cJSON: gt_energy_result_to_json builds the measure contract's object.
target_link_libraries(greentune_energy_objects PRIVATE PkgConfig::CJSON)
target_link_libraries(greentune_energy PUBLIC PkgConfig::CJSON)

# The grid-intensity and CPU TDP tables, compiled in as strings (embed_csv.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/embed_csv.cmake)
greentune_embed_csv(grid_intensity)
greentune_embed_csv(cpu_tdp)
target_include_directories(greentune_energy_objects PRIVATE ${GREENTUNE_CSV_INCLUDE_DIR})
