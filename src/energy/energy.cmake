# The energy library's own build pieces, included from the top-level
# CMakeLists.txt after the library targets exist.

# cJSON: gt_energy_result_to_json builds the measure contract's object.
target_link_libraries(greentune_energy_objects PRIVATE PkgConfig::CJSON)
target_link_libraries(greentune_energy PUBLIC PkgConfig::CJSON)

# The grid-intensity table is a checked-in CSV (with its sources); it is
# compiled in as a string so the binary needs no data files at run time.
set(GRID_CSV ${CMAKE_SOURCE_DIR}/src/energy/grid_intensity.csv)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${GRID_CSV})
file(READ ${GRID_CSV} grid_csv)
string(REPLACE "\\" "\\\\" grid_csv "${grid_csv}")
string(REPLACE "\"" "\\\"" grid_csv "${grid_csv}")
string(REPLACE "\n" "\\n\"\n\"" grid_csv "${grid_csv}")
file(WRITE ${CMAKE_BINARY_DIR}/generated/grid_intensity_csv.h.tmp
  "/* Generated from src/energy/grid_intensity.csv by src/energy/energy.cmake. */\n"
  "static const char grid_intensity_csv[] =\n\"${grid_csv}\";\n")
configure_file(${CMAKE_BINARY_DIR}/generated/grid_intensity_csv.h.tmp
  ${CMAKE_BINARY_DIR}/generated/grid_intensity_csv.h COPYONLY)
target_include_directories(greentune_energy_objects PRIVATE ${CMAKE_BINARY_DIR}/generated)
