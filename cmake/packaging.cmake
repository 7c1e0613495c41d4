# The .deb: `cpack -G DEB` in the build tree packs every install() rule of the project
# (binary, dashboard, units, examples, README; the nginx module where it is built) under
# /usr, with the maintainer scripts of conf/debian/.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME progressista)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Progressista")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "push gateway for progress bars (shared-memory daemons behind nginx)")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "Workers POST small JSON progress events; an ingest daemon writes them into a shared-memory\n"
       "task table and a broadcast daemon streams the table to browser dashboards over WebSocket\n"
       "and Server-Sent Events. A drop-in replacement for the Python Progressista server.\n"
       "Ships the progressista binary, the dashboard, paired systemd units and an nginx site.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)  # the units start /usr/bin/progressista
set(CPACK_STRIP_FILES TRUE)

set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Progressista maintainers <progressista@example.org>")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# postinst creates the user with adduser; the shared libraries are added by dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nginx")
# CPack's shlibdeps step needs dpkg-shlibdeps (package dpkg-dev) and file(1) (package file).
find_program(PROGRESSISTA_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(PROGRESSISTA_FILE file)
if(PROGRESSISTA_DPKG_SHLIBDEPS AND PROGRESSISTA_FILE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  # Without them, Debian 12's names for what the binary links.
  message(STATUS "dpkg-shlibdeps or file not found (packages dpkg-dev, file): "
                 "the .deb lists its libraries by hand")
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS
         ", libc6, libgcc-s1, libstdc++6, libfmt9, libsimdjson14, libsystemd0")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/conf/debian/postinst
    ${PROJECT_SOURCE_DIR}/conf/debian/prerm
    ${PROJECT_SOURCE_DIR}/conf/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
