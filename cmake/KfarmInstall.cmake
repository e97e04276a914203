# What `cmake --install build --prefix DIR` adds beside the components' own install() rules: man
# pages, the Python package, an environment-modules/Lmod modulefile, and relative RUNPATHs for
# libraries installed below lib/. Include it after every component is added. The programs'
# RUNPATH ($ORIGIN/../lib) is set in the top-level CMakeLists.txt, before the targets exist.

# Man pages: every page in docs/man (esfm.8 is installed by src/esfm itself).
file(GLOB kfarm_man1 ${PROJECT_SOURCE_DIR}/docs/man/*.1)
file(GLOB kfarm_man8 ${PROJECT_SOURCE_DIR}/docs/man/*.8)
list(FILTER kfarm_man8 EXCLUDE REGEX "/esfm\\.8$")
install(FILES ${kfarm_man1} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${kfarm_man8} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# The Python package, where the modulefile points PYTHONPATH (pip installs it into venvs).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/clients/python/kfarm
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/python3/site-packages
  FILES_MATCHING PATTERN "*.py" PATTERN "py.typed" PATTERN "__pycache__" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/clients/python/kfarm_client.py
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/python3/site-packages)

# Modulefile: DIR/share/modulefiles/kfarm/<version>; it computes DIR from its own location.
configure_file(${PROJECT_SOURCE_DIR}/packaging/modulefile/kfarm.tcl
  ${CMAKE_BINARY_DIR}/packaging/modulefile/kfarm @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/packaging/modulefile/kfarm
  DESTINATION ${CMAKE_INSTALL_DATADIR}/modulefiles/kfarm RENAME ${PROJECT_VERSION})

# Plugins one level below lib/ find kfarm's libraries in lib/.
foreach(t spank_kfarm ptdr_module)
  if(TARGET ${t})
    set_target_properties(${t} PROPERTIES INSTALL_RPATH "$ORIGIN/..")
  endif()
endforeach()
