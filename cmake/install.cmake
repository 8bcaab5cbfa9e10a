# Installation and packaging, included by the top CMakeLists.txt:
#   cmake --install BUILD [--prefix DIR]   the programs, the static libraries,
#       include/tandem/, the CMake package (find_package(tandem CONFIG)) and the
#       pkg-config files (tandem, tandem-core, tandem-postgres, tandem-mariadb);
#   cpack -G DEB (in BUILD)   a .deb whose dependencies are Debian's package
#       names (dpkg-shlibdeps); scripts/package.sh does both from a clean build.
include(CMakePackageConfigHelpers)
set(TANDEM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tandem)

# The pkg-config files find the prefix from where they are (relocatable, as the
# CMake package is): prefix is ${pcfiledir} up to the installation's root.
file(RELATIVE_PATH TANDEM_PC_UP /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
set(TANDEM_PC_PREFIX "\${pcfiledir}/${TANDEM_PC_UP}")

install(TARGETS tandem_cli tandem_stress RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/tandem DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(component core postgres mariadb)
  install(TARGETS tandem_${component} EXPORT tandem-${component}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT tandem-${component} NAMESPACE tandem:: FILE tandem-${component}-targets.cmake
          DESTINATION ${TANDEM_CMAKE_DIR})
  configure_file(cmake/tandem-${component}.pc.in tandem-${component}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tandem-${component}.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
configure_file(cmake/tandem.pc.in tandem.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tandem.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
configure_package_config_file(cmake/tandemConfig.cmake.in tandemConfig.cmake INSTALL_DESTINATION ${TANDEM_CMAKE_DIR})
write_basic_package_version_file(tandemConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tandemConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tandemConfigVersion.cmake
        DESTINATION ${TANDEM_CMAKE_DIR})
if(TANDEM_SYNC_POINTS)
  install(CODE "message(WARNING \"this build has the test-only sync points compiled in (TANDEM_SYNC_POINTS): \
install from a build without them (-DBUILD_TESTING=OFF), as scripts/package.sh does\")")
endif()

set(CPACK_PACKAGE_NAME tandem)
set(CPACK_PACKAGE_VENDOR "tandem")
set(CPACK_PACKAGE_CONTACT "tandem developers <tandem@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "moves a live service from an old database to a new one")
set(CPACK_PACKAGE_DESCRIPTION "tandem routes reads and writes by role through a plan an operator walks
forward or back, copies the existing data in the background and verifies
that both databases are equal. SQLite, PostgreSQL and MariaDB/MySQL.
This package has the tandem and tandem-stress programs, the static library,
its headers, its CMake package and its pkg-config files.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# What linking the static library needs (the programs need only the shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS
    "libsqlite3-dev, libpq-dev, libmariadb-dev, libspdlog-dev, libfmt-dev, libxxhash-dev, libsimdjson-dev, pkg-config")
include(CPack)
