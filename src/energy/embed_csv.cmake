# Checked-in CSV tables (each with its sources in its header) are compiled in
# as strings, so the binary needs no data files at run time:
# greentune_embed_csv(NAME) turns src/energy/NAME.csv into NAME_csv.h (a
# static const char NAME_csv[]) under GREENTUNE_CSV_INCLUDE_DIR. Included by
# energy.cmake and by the fuzz build (fuzz/CMakeLists.txt), whose targets
# compile the same tables.
set(GREENTUNE_CSV_INCLUDE_DIR ${CMAKE_BINARY_DIR}/generated)
function(greentune_embed_csv name)
  set(csv ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${name}.csv)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${csv})
  file(READ ${csv} text)
  string(REPLACE "\\" "\\\\" text "${text}")
  string(REPLACE "\"" "\\\"" text "${text}")
  string(REPLACE "\n" "\\n\"\n\"" text "${text}")
  file(WRITE ${GREENTUNE_CSV_INCLUDE_DIR}/${name}_csv.h.tmp
    "/* Generated from src/energy/${name}.csv by src/energy/embed_csv.cmake. */\n"
    "static const char ${name}_csv[] =\n\"${text}\";\n")
  configure_file(${GREENTUNE_CSV_INCLUDE_DIR}/${name}_csv.h.tmp
    ${GREENTUNE_CSV_INCLUDE_DIR}/${name}_csv.h COPYONLY)
endfunction()
