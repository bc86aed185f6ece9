# The energy library's own build pieces, included from the top-level
# CMakeLists.txt after the library targets exist.

# cJSON: gt_energy_result_to_json builds the measure contract's object.
target_link_libraries(greentune_energy_objects PRIVATE PkgConfig::CJSON)
target_link_libraries(greentune_energy PUBLIC PkgConfig::CJSON)

# The grid-intensity table, compiled in as a string (grid_intensity.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/grid_intensity.cmake)
target_include_directories(greentune_energy_objects PRIVATE ${GRID_CSV_INCLUDE_DIR})
