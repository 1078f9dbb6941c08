# Installs udpsieved's service files; run by `cmake --install` (install(SCRIPT) in the top-level
# CMakeLists.txt, which sets UDPSIEVE_SOURCE_DIR). Paths are computed here, at install time, so
# `--prefix` given to `cmake --install` is honoured:
#   PREFIX/lib/systemd/system/udpsieved.service   ExecStart and --config rewritten to match
#   PREFIX/lib/sysctl.d/60-udpsieve-hugepages.conf hugepages reserved at every boot
#   PREFIX/lib/tmpfiles.d/udpsieve.conf            /run/dpdk for ProtectSystem=strict
#   SYSCONF/udpsieve/udpsieved.yaml, rules.d/      the operator's files: never overwritten
# SYSCONF is /etc for the prefixes /usr and /, PREFIX/etc otherwise (as GNUInstallDirs does).

set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr" OR prefix STREQUAL "/")
  set(conf_dir "/etc/udpsieve")
  set(lib_dir "/usr/lib")
else()
  set(conf_dir "${prefix}/etc/udpsieve")
  set(lib_dir "${prefix}/lib")
endif()
if(prefix STREQUAL "/")
  set(sbin_dir "/usr/sbin")
else()
  set(sbin_dir "${prefix}/sbin")
endif()
set(src "${UDPSIEVE_SOURCE_DIR}/config")

# Writes TEXT to DESTDIR/PATH.
function(put path text)
  set(target "$ENV{DESTDIR}${path}")
  message(STATUS "Installing: ${target}")
  file(WRITE "${target}" "${text}")
endfunction()

# Rewrites the shipped /usr/sbin and /etc/udpsieve paths to this prefix's.
function(relocate out file)
  file(READ "${file}" text)
  string(REPLACE "/usr/sbin/udpsieved" "${sbin_dir}/udpsieved" text "${text}")
  string(REPLACE "/etc/udpsieve/" "${conf_dir}/" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

relocate(unit "${src}/udpsieved.service")
put("${lib_dir}/systemd/system/udpsieved.service" "${unit}")
file(READ "${src}/udpsieve-hugepages.conf" text)
put("${lib_dir}/sysctl.d/60-udpsieve-hugepages.conf" "${text}")
file(READ "${src}/udpsieve-tmpfiles.conf" text)
put("${lib_dir}/tmpfiles.d/udpsieve.conf" "${text}")

# The configuration is the operator's: installed when absent, never overwritten. An upgrade
# keeps local edits and puts the shipped version beside them as *.dist.
relocate(config "${src}/udpsieved.yaml")
file(READ "${src}/rules.d/10-examples.yaml" examples)
foreach(entry "udpsieved.yaml;config" "rules.d/10-examples.yaml;examples")
  list(GET entry 0 name)
  list(GET entry 1 variable)
  if(EXISTS "$ENV{DESTDIR}${conf_dir}/${name}")
    message(STATUS "Keeping: $ENV{DESTDIR}${conf_dir}/${name} (shipped version: ${name}.dist)")
    put("${conf_dir}/${name}.dist" "${${variable}}")
  else()
    put("${conf_dir}/${name}" "${${variable}}")
  endif()
endforeach()
