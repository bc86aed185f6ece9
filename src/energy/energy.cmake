# The energy library's own build pieces, included from the top-level
# CMakeLists.txt after the library targets exist.

# cJSON: gt_energy_result_to_json builds the measure contract's object.
target_link_libraries(greentune_energy_objects PRIVATE PkgConfig::CJSON)
target_link_libraries(greentune_energy PUBLIC PkgConfig::CJSON)

# Checked-in CSV tables (each with its sources in its header) are compiled in
# as strings, so the binary needs no data files at run time.
function(greentune_embed_csv name)
  set(csv ${CMAKE_SOURCE_DIR}/src/energy/${name}.csv)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${csv})
  file(READ ${csv} text)
  string(REPLACE "\\" "\\\\" text "${text}")
  string(REPLACE "\"" "\\\"" text "${text}")
  string(REPLACE "\n" "\\n\"\n\"" text "${text}")
  file(WRITE ${CMAKE_BINARY_DIR}/generated/${name}_csv.h.tmp
    "/* Generated from src/energy/${name}.csv by src/energy/energy.cmake. */\n"
    "static const char ${name}_csv[] =\n\"${text}\";\n")
  configure_file(${CMAKE_BINARY_DIR}/generated/${name}_csv.h.tmp
    ${CMAKE_BINARY_DIR}/generated/${name}_csv.h COPYONLY)
endfunction()
greentune_embed_csv(grid_intensity)
greentune_embed_csv(cpu_tdp)
target_include_directories(greentune_energy_objects PRIVATE ${CMAKE_BINARY_DIR}/generated)
