#%Module1.0
## kfarm modulefile, for environment-modules and Lmod (both read Tcl modulefiles).
## `cmake --install build --prefix DIR` puts it in DIR/share/modulefiles/kfarm/<version>; then
##   module use DIR/share/modulefiles && module load kfarm
## It finds DIR from its own path, so a prefix can be moved or copied whole.
set version  @PROJECT_VERSION@
set prefix   [file normalize [file join [file dirname $ModulesCurrentModulefile] .. .. ..]]

proc ModulesHelp { } {
    puts stderr "kfarm: batch-native runtime serving compute kernels from Slurm jobs"
}
module-whatis "kfarm $version: kfarm, kfarm-client, kfarm-plot, ptdr tools, esfm, Python client"
conflict kfarm

prepend-path PATH       $prefix/bin
prepend-path MANPATH    $prefix/share/man
prepend-path PYTHONPATH $prefix/@CMAKE_INSTALL_LIBDIR@/python3/site-packages
prepend-path PKG_CONFIG_PATH $prefix/@CMAKE_INSTALL_LIBDIR@/pkgconfig
setenv       KFARM_ROOT $prefix
