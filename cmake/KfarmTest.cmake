# Test helpers: every ctest carries a component label so `ctest -L esfm` runs one component.
pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)

# kfarm_unit_test(NAME LABEL SOURCES... [LIBS libs...]): a cmocka unit test.
function(kfarm_unit_test name label)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE PkgConfig::CMOCKA ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${label}" TIMEOUT 120)
endfunction()

# kfarm_script_test(NAME LABEL COMMAND... [TIMEOUT s]): an integration test driving real binaries.
function(kfarm_script_test name label)
  cmake_parse_arguments(T "" "TIMEOUT" "COMMAND" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${T_COMMAND})
  # PYTHONUNBUFFERED: what a Python test printed before ctest kills it at its TIMEOUT is shown.
  set_tests_properties(${name} PROPERTIES LABELS "${label}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "KFARM_BUILD_DIR=${CMAKE_BINARY_DIR};KFARM_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONUNBUFFERED=1")
endfunction()

# kfarm_slurm_test(NAME LABEL COMMAND... [TIMEOUT s]): an integration test that runs jobs on the
# private Slurm cluster started once per ctest run by the `slurm` fixture (tests/CMakeLists.txt).
function(kfarm_slurm_test name label)
  kfarm_script_test(${name} ${label} ${ARGN})
  get_test_property(${name} ENVIRONMENT env)
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED slurm
    ENVIRONMENT "${env};SLURM_CONF=${CMAKE_BINARY_DIR}/slurm/slurm.conf")
endfunction()

# kfarm_sanitizer_preload(TESTS...): tests whose Slurm processes (slurmd, slurmstepd, srun, sbatch)
# load kfarm's spank_kfarm.so. In a KFARM_SANITIZE build the ASan runtime must come first in those
# uninstrumented programs, so the harness preloads the compiler's libasan into them
# (KFARM_SANITIZER_PRELOAD, tests/harness/slurm-common.sh) and fails the test on any report.
function(kfarm_sanitizer_preload)
  if(NOT KFARM_SANITIZE)
    return()
  endif()
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
    OUTPUT_VARIABLE asan OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${asan}" OR NOT EXISTS "${asan}")
    message(FATAL_ERROR "KFARM_SANITIZE: ${CMAKE_C_COMPILER} has no libasan.so (apt-get install "
      "libgcc-12-dev libasan8; scripts/setup does)")
  endif()
  get_filename_component(asan "${asan}" REALPATH)
  foreach(t ${ARGN})
    get_test_property(${t} ENVIRONMENT env)
    set_tests_properties(${t} PROPERTIES ENVIRONMENT "${env};KFARM_SANITIZER_PRELOAD=${asan}")
  endforeach()
endfunction()
