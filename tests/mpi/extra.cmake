# The MPI tests launch greentune with mpirun on this machine: as root where the
# tests run as root, oversubscribed (more ranks than the 2 cores), one OpenMP
# thread per rank that sleeps while it waits. They report themselves skipped
# (exit 77, with the reason) only when this build has no MPI.
set(GREENTUNE_MPI_TEST_ENV
  "GREENTUNE_HAVE_MPI=$<BOOL:${GREENTUNE_HAVE_MPI}>"
  "GREENTUNE_MPIEXEC=${MPIEXEC_EXECUTABLE}"
  "GREENTUNE_MPI_CONFIG=${GREENTUNE_MPI}"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1
  # OpenMPI's own allocations that live until exit are not greentune's leaks.
  # Its libraries keep no frame pointers, so the fast unwinder stops after one
  # frame, in a component already unloaded, and no suppression matches: the
  # slow unwinder sees the whole stack, through libmpi.
  "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0")
foreach(source ${c_tests} ${sh_tests} ${py_tests})
  get_filename_component(name ${source} NAME_WE)
  set_property(TEST mpi_${name} APPEND PROPERTY ENVIRONMENT ${GREENTUNE_MPI_TEST_ENV})
  set_tests_properties(mpi_${name} PROPERTIES SKIP_RETURN_CODE 77 PROCESSORS 2)
endforeach()
