# The CUDA backend (src/nn/cuda/*.cu): built when nvcc is found, never needed.
#
#   -DGREENTUNE_CUDA=ON    build it; configuring fails without a working nvcc
#   -DGREENTUNE_CUDA=OFF   leave it out
#   (unset)                build it when nvcc is found (PATH, $CUDACXX, $CUDA_HOME,
#                          /usr/local/cuda) — but not in the sanitizer build, which
#                          cannot instrument device code and whose runtime
#                          conflicts with the CUDA driver's memory map
#
# Without it, dev_cuda_stub.c makes device cuda say "built without CUDA"; the C
# side of the backend (the GPU model code, the host backend) is always built and
# tested. Kernels are compiled for CMAKE_CUDA_ARCHITECTURES (default 90, the
# H100/H200; a list such as "80;90" covers more GPUs at more compile time).
if(NOT DEFINED GREENTUNE_CUDA)
  set(_cuda_mode AUTO)
elseif(GREENTUNE_CUDA)
  set(_cuda_mode ON)
else()
  set(_cuda_mode OFF)
endif()
if(_cuda_mode STREQUAL AUTO AND GREENTUNE_SANITIZE)
  message(STATUS "greentune: CUDA backend off in the sanitizer build (-DGREENTUNE_CUDA=ON to force)")
  set(_cuda_mode OFF)
endif()

if(NOT _cuda_mode STREQUAL OFF AND NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(GREENTUNE_NVCC nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda PATH_SUFFIXES bin)
  if(GREENTUNE_NVCC)
    set(CMAKE_CUDA_COMPILER ${GREENTUNE_NVCC})
  endif()
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90)
endif()
if(_cuda_mode STREQUAL AUTO)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(_cuda_mode ON)
  else()
    message(STATUS "greentune: no nvcc found, CUDA backend not built (device cuda will say so)")
    set(_cuda_mode OFF)
  endif()
endif()

set(GREENTUNE_HAVE_CUDA OFF)
if(_cuda_mode STREQUAL ON)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  set(GREENTUNE_HAVE_CUDA ON)
  message(STATUS "greentune: CUDA backend built with ${CMAKE_CUDA_COMPILER} (CUDA ${CUDAToolkit_VERSION}) "
                 "for architectures ${CMAKE_CUDA_ARCHITECTURES}")
  file(GLOB CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cu)
  add_library(greentune_cuda_objects OBJECT ${CUDA_SOURCES})
  # The C flags (-march=native, -Wshadow, sanitizers) are not nvcc's: this
  # target gets its own, with warnings as errors on both compilers.
  set_target_properties(greentune_cuda_objects PROPERTIES COMPILE_OPTIONS "" CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON CUDA_VISIBILITY_PRESET hidden POSITION_INDEPENDENT_CODE ON)
  set(_host_warnings -Wall,-Wextra,-Wno-unused-parameter,-Wno-missing-field-initializers,-Wno-format-truncation)
  if(GREENTUNE_WERROR)
    set(_host_warnings ${_host_warnings},-Werror)
    target_compile_options(greentune_cuda_objects PRIVATE "SHELL:--Werror all-warnings")
  endif()
  target_compile_options(greentune_cuda_objects PRIVATE -Xcompiler=${_host_warnings} -lineinfo)
  target_include_directories(greentune_cuda_objects PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_definitions(greentune_objects PRIVATE GREENTUNE_HAVE_CUDA=1)
  target_sources(greentune_static PRIVATE $<TARGET_OBJECTS:greentune_cuda_objects>)
  target_sources(greentune PRIVATE $<TARGET_OBJECTS:greentune_cuda_objects>)
  target_link_libraries(greentune_static PUBLIC CUDA::cudart_static CUDA::cublasLt)
  target_link_libraries(greentune PRIVATE CUDA::cudart_static CUDA::cublasLt)
  # made before this file set the architectures
  set_target_properties(greentune_static greentune PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
endif()
