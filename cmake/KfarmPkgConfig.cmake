# kfarm_install_pkgconfig(NAME): configures packaging/NAME.pc.in and installs it in
# <libdir>/pkgconfig with a prefix relative to the .pc file (${pcfiledir}), so that the file is
# right wherever the tree is installed (`cmake --install build --prefix DIR`, a relocated copy).
# The Debian packages (KfarmPackaging.cmake) configure the same templates with prefix /usr.
include_guard(GLOBAL)
include(GNUInstallDirs)

function(kfarm_install_pkgconfig name)
  file(RELATIVE_PATH up "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(KFARM_PC_PREFIX "\${pcfiledir}/${up}")
  configure_file(${PROJECT_SOURCE_DIR}/packaging/${name}.pc.in
    ${CMAKE_BINARY_DIR}/pkgconfig/${name}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/pkgconfig/${name}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()
