# Debian packages with CPack (`cd build && cpack -G DEB`): kfarm, kfarm-spank, kfarm-esfm,
# kfarm-dev. Include it from the top-level CMakeLists.txt after every component is added.
#
# The packages are described here, not by the components' own install() rules: each rule below
# names its package (COMPONENT) and is EXCLUDE_FROM_ALL, so `make install` is unchanged and only
# the component-wise installs CPack runs see them. Paths are relative to / (Debian's layout).

set(KFARM_DEB_ARCH_LIBDIR usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
if(NOT CMAKE_LIBRARY_ARCHITECTURE)
  set(KFARM_DEB_ARCH_LIBDIR usr/lib/x86_64-linux-gnu)
endif()
set(KFARM_DEB_PLUGIN_DIR ${KFARM_DEB_ARCH_LIBDIR}/slurm-wlm) # Slurm's PluginDir on Debian

# kfarm: the MPI program, the client, learner/observer (with disabled systemd units), kfarm-plot,
# the ptdr tools, adapters, client library, Python package, man pages.
set(kfarm_bins kfarm kfarm-client kfarm-learner kfarm-observer)
foreach(t IN LISTS kfarm_bins)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION usr/bin COMPONENT kfarm EXCLUDE_FROM_ALL)
  endif()
endforeach()
if(TARGET kfarm_client)
  install(TARGETS kfarm_client LIBRARY DESTINATION ${KFARM_DEB_ARCH_LIBDIR} COMPONENT kfarm
    NAMELINK_SKIP EXCLUDE_FROM_ALL)
  install(TARGETS kfarm_client LIBRARY DESTINATION ${KFARM_DEB_ARCH_LIBDIR} COMPONENT kfarm-dev
    NAMELINK_ONLY EXCLUDE_FROM_ALL)
endif()
if(TARGET ptdr_module) # external-adapter form of the built-in ptdr (kfarm --adapter PATH.so)
  install(TARGETS ptdr_module LIBRARY DESTINATION ${KFARM_DEB_ARCH_LIBDIR}/kfarm/adapters
    COMPONENT kfarm EXCLUDE_FROM_ALL)
endif()
foreach(t ptdr-gen ptdr-convert ptdr-run)
  if(TARGET ${t})
    install(TARGETS ${t} RUNTIME DESTINATION usr/bin COMPONENT kfarm EXCLUDE_FROM_ALL)
  endif()
endforeach()
# The build-tree copy: it carries the version.
install(PROGRAMS ${CMAKE_BINARY_DIR}/tools/kfarm-plot/kfarm-plot DESTINATION usr/bin
  COMPONENT kfarm EXCLUDE_FROM_ALL)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/clients/python/kfarm
  DESTINATION usr/lib/python3/dist-packages COMPONENT kfarm EXCLUDE_FROM_ALL
  FILES_MATCHING PATTERN "*.py" PATTERN "py.typed" PATTERN "__pycache__" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/clients/python/kfarm_client.py
  DESTINATION usr/lib/python3/dist-packages COMPONENT kfarm EXCLUDE_FROM_ALL)
foreach(page kfarm.1 kfarm-client.1 kfarm-learner.1 kfarm-observer.1 kfarm-plot.1 ptdr-gen.1
             ptdr-convert.1 ptdr-run.1)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/man/${page} DESTINATION usr/share/man/man1
    COMPONENT kfarm EXCLUDE_FROM_ALL)
endforeach()
# Services, installed disabled (no maintainer script enables or starts them); their options in
# /etc/kfarm, conffiles.
foreach(unit kfarm-learner kfarm-observer)
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/${unit}.service
    DESTINATION lib/systemd/system COMPONENT kfarm EXCLUDE_FROM_ALL)
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/etc/${unit}.conf DESTINATION etc/kfarm
    COMPONENT kfarm EXCLUDE_FROM_ALL)
endforeach()
foreach(doc operations.md protocol.md architecture.md tuner.md ptdr.md)
  if(EXISTS ${PROJECT_SOURCE_DIR}/docs/${doc})
    install(FILES ${PROJECT_SOURCE_DIR}/docs/${doc} DESTINATION usr/share/doc/kfarm
      COMPONENT kfarm EXCLUDE_FROM_ALL)
  endif()
endforeach()
# The broker's topic rights per role, for the admin to copy into mosquitto's config.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/mosquitto-kfarm.acl
  DESTINATION usr/share/doc/kfarm/examples COMPONENT kfarm EXCLUDE_FROM_ALL)

# kfarm-esfm: the esfm command and library, an example policy, the state directory.
if(TARGET esfm_cli)
  install(TARGETS esfm_cli RUNTIME DESTINATION usr/sbin COMPONENT kfarm-esfm EXCLUDE_FROM_ALL)
endif()
if(TARGET esfm)
  install(TARGETS esfm LIBRARY DESTINATION ${KFARM_DEB_ARCH_LIBDIR} COMPONENT kfarm-esfm
    NAMELINK_SKIP EXCLUDE_FROM_ALL)
  install(TARGETS esfm LIBRARY DESTINATION ${KFARM_DEB_ARCH_LIBDIR} COMPONENT kfarm-dev
    NAMELINK_ONLY EXCLUDE_FROM_ALL)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/docs/esfm-policy.example.json DESTINATION etc/kfarm
  COMPONENT kfarm-esfm EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/esfmd.service
  DESTINATION lib/systemd/system COMPONENT kfarm-esfm EXCLUDE_FROM_ALL)
if(TARGET esfmd)
  install(TARGETS esfmd RUNTIME DESTINATION usr/sbin COMPONENT kfarm-esfm EXCLUDE_FROM_ALL)
endif()
install(DIRECTORY DESTINATION var/lib/esfm COMPONENT kfarm-esfm EXCLUDE_FROM_ALL
  DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/esfm.8 DESTINATION usr/share/man/man8
  COMPONENT kfarm-esfm EXCLUDE_FROM_ALL)
if(EXISTS ${PROJECT_SOURCE_DIR}/docs/esfm.md)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/esfm.md DESTINATION usr/share/doc/kfarm-esfm
    COMPONENT kfarm-esfm EXCLUDE_FROM_ALL)
endif()

# kfarm-spank: the plugin in Slurm's plugin dir and a commented plugstack.conf.d line.
if(TARGET spank_kfarm)
  install(TARGETS spank_kfarm LIBRARY DESTINATION ${KFARM_DEB_PLUGIN_DIR} COMPONENT kfarm-spank
    EXCLUDE_FROM_ALL)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/plugstack-kfarm.conf
  DESTINATION etc/slurm/plugstack.conf.d RENAME kfarm.conf COMPONENT kfarm-spank EXCLUDE_FROM_ALL)
install(DIRECTORY DESTINATION var/lib/kfarm/spank COMPONENT kfarm-spank EXCLUDE_FROM_ALL
  DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/spank_kfarm.8 DESTINATION usr/share/man/man8
  COMPONENT kfarm-spank EXCLUDE_FROM_ALL)
if(EXISTS ${PROJECT_SOURCE_DIR}/docs/spank.md)
  install(FILES ${PROJECT_SOURCE_DIR}/docs/spank.md DESTINATION usr/share/doc/kfarm-spank
    COMPONENT kfarm-spank EXCLUDE_FROM_ALL)
endif()

# kfarm-dev: headers, the static tuner library, pkg-config files, the example adapter.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/adapters DESTINATION usr/share/doc/kfarm-dev/examples
  COMPONENT kfarm-dev EXCLUDE_FROM_ALL)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/kfarm DESTINATION usr/include
  COMPONENT kfarm-dev EXCLUDE_FROM_ALL FILES_MATCHING PATTERN "*.h")
if(TARGET kfarm_tuner)
  install(TARGETS kfarm_tuner ARCHIVE DESTINATION ${KFARM_DEB_ARCH_LIBDIR} COMPONENT kfarm-dev
    EXCLUDE_FROM_ALL)
endif()
block(SCOPE_FOR VARIABLES)
  set(CMAKE_INSTALL_PREFIX /usr)
  string(REGEX REPLACE "^usr/" "" CMAKE_INSTALL_LIBDIR ${KFARM_DEB_ARCH_LIBDIR})
  set(CMAKE_INSTALL_INCLUDEDIR include)
  set(KFARM_PC_PREFIX /usr)
  foreach(pc kfarm-client kfarm-adapter esfm kfarm-tuner)
    configure_file(${PROJECT_SOURCE_DIR}/packaging/${pc}.pc.in
      ${CMAKE_BINARY_DIR}/packaging/${pc}.pc @ONLY)
    install(FILES ${CMAKE_BINARY_DIR}/packaging/${pc}.pc
      DESTINATION ${KFARM_DEB_ARCH_LIBDIR}/pkgconfig COMPONENT kfarm-dev EXCLUDE_FROM_ALL)
  endforeach()
endblock()

# ---- CPack ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kfarm)
set(CPACK_PACKAGE_VENDOR "kfarm project")
set(CPACK_PACKAGE_CONTACT "kfarm maintainers <kfarm@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "batch-native runtime serving compute kernels from Slurm jobs")
set(CPACK_PACKAGING_INSTALL_PREFIX /)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL kfarm kfarm-spank kfarm-esfm kfarm-dev) # not "Unspecified"
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps must find the libraries these packages ship themselves.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS
  ${CMAKE_BINARY_DIR}/src/client ${CMAKE_BINARY_DIR}/src/esfm)
set(CPACK_DEBIAN_KFARM_PACKAGE_NAME kfarm)
set(CPACK_DEBIAN_KFARM-SPANK_PACKAGE_NAME kfarm-spank)
set(CPACK_DEBIAN_KFARM-ESFM_PACKAGE_NAME kfarm-esfm)
set(CPACK_DEBIAN_KFARM-DEV_PACKAGE_NAME kfarm-dev)
set(CPACK_DEBIAN_KFARM_PACKAGE_RECOMMENDS "python3-zmq, gnuplot-nox")
set(CPACK_DEBIAN_KFARM_PACKAGE_SUGGESTS "kfarm-spank, kfarm-esfm")
set(CPACK_DEBIAN_KFARM-SPANK_PACKAGE_DEPENDS "slurm-wlm-basic-plugins | slurmd")
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_COMPONENT_KFARM-SPANK_DEPENDS kfarm-esfm)
set(CPACK_COMPONENT_KFARM-DEV_DEPENDS kfarm kfarm-esfm)
set(CPACK_COMPONENT_KFARM_DESCRIPTION
  "kfarm MPI program, kfarm-client, adapters, client library, Python client, kfarm-plot, ptdr tools")
set(CPACK_COMPONENT_KFARM-SPANK_DESCRIPTION
  "Slurm SPANK plugin attaching FPGA VFs to jobs (--fpga-vfs) through ESFM")
set(CPACK_COMPONENT_KFARM-ESFM_DESCRIPTION "SR-IOV FPGA manager (esfm command and libesfm)")
set(CPACK_COMPONENT_KFARM-DEV_DESCRIPTION "kfarm headers, pkg-config files, static tuner library")
# Files under /etc are the admin's: dpkg keeps their edits on upgrade.
file(WRITE ${CMAKE_BINARY_DIR}/packaging/kfarm/conffiles
  "/etc/kfarm/kfarm-learner.conf\n/etc/kfarm/kfarm-observer.conf\n")
file(WRITE ${CMAKE_BINARY_DIR}/packaging/esfm/conffiles "/etc/kfarm/esfm-policy.example.json\n")
file(WRITE ${CMAKE_BINARY_DIR}/packaging/spank/conffiles "/etc/slurm/plugstack.conf.d/kfarm.conf\n")
set(CPACK_DEBIAN_KFARM_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/packaging/kfarm/conffiles)
set(CPACK_DEBIAN_KFARM-ESFM_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/packaging/esfm/conffiles)
set(CPACK_DEBIAN_KFARM-SPANK_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/packaging/spank/conffiles)
include(CPack)
