# Compiles the grid-intensity table (a checked-in CSV with its sources) into a
# header, generated/grid_intensity_csv.h under the build directory, so the
# binary needs no data files at run time. Included by energy.cmake and by the
# fuzz build (fuzz/CMakeLists.txt); defines GRID_CSV_INCLUDE_DIR.
set(GRID_CSV ${CMAKE_CURRENT_LIST_DIR}/grid_intensity.csv)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${GRID_CSV})
file(READ ${GRID_CSV} grid_csv)
string(REPLACE "\\" "\\\\" grid_csv "${grid_csv}")
string(REPLACE "\"" "\\\"" grid_csv "${grid_csv}")
string(REPLACE "\n" "\\n\"\n\"" grid_csv "${grid_csv}")
file(WRITE ${CMAKE_BINARY_DIR}/generated/grid_intensity_csv.h.tmp
  "/* Generated from src/energy/grid_intensity.csv by src/energy/grid_intensity.cmake. */\n"
  "static const char grid_intensity_csv[] =\n\"${grid_csv}\";\n")
configure_file(${CMAKE_BINARY_DIR}/generated/grid_intensity_csv.h.tmp
  ${CMAKE_BINARY_DIR}/generated/grid_intensity_csv.h COPYONLY)
set(GRID_CSV_INCLUDE_DIR ${CMAKE_BINARY_DIR}/generated)
