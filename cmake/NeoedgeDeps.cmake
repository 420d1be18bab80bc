# Finds the Debian packages neoedge builds on and exposes each as an
# imported target ne::<name>. Libraries without pkg-config files (Paho,
# mbedTLS) are found by name.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(NE_YAML    REQUIRED IMPORTED_TARGET yaml-0.1)
pkg_check_modules(NE_URING   REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(NE_ZSTD    REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(NE_MHD     REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(NE_CURL    REQUIRED IMPORTED_TARGET libcurl)
# libcoap's GnuTLS build: GnuTLS is loaded and initialised anyway (through
# libmicrohttpd), while the OpenSSL build initialises OpenSSL and a DTLS
# context at startup, about 3 MiB resident even with DTLS unused.
pkg_check_modules(NE_COAP    REQUIRED IMPORTED_TARGET libcoap-3-gnutls)

add_library(ne::yaml  ALIAS PkgConfig::NE_YAML)
add_library(ne::uring ALIAS PkgConfig::NE_URING)
add_library(ne::zstd  ALIAS PkgConfig::NE_ZSTD)
add_library(ne::mhd   ALIAS PkgConfig::NE_MHD)

# ne::curl is libcurl loaded on first use (ports/curl_lazy.c): linking
# libcurl itself would load it and twenty libraries it depends on into
# every process, sinks or not. Only libcurl's headers are used here.
add_library(ne_curl_lazy STATIC ${PROJECT_SOURCE_DIR}/ports/curl_lazy.c)
target_include_directories(ne_curl_lazy PRIVATE ${PROJECT_SOURCE_DIR})
target_include_directories(ne_curl_lazy PUBLIC ${NE_CURL_INCLUDE_DIRS})
target_link_libraries(ne_curl_lazy PUBLIC ne_ports ${CMAKE_DL_LIBS} Threads::Threads)
add_library(ne::curl  ALIAS ne_curl_lazy)
add_library(ne::coap  ALIAS PkgConfig::NE_COAP)

# ne::paho is Paho MQTT C loaded on first use (ports/paho_lazy.c): linking
# it would load it and OpenSSL (libssl, libcrypto) into every process,
# MQTT on or off. The library must be installed; only its header is used
# at build time.
find_library(NE_PAHO_LIB paho-mqtt3as REQUIRED)
find_path(NE_PAHO_INC MQTTAsync.h REQUIRED)
add_library(ne_paho_lazy STATIC ${PROJECT_SOURCE_DIR}/ports/paho_lazy.c)
target_include_directories(ne_paho_lazy PRIVATE ${PROJECT_SOURCE_DIR})
target_include_directories(ne_paho_lazy PUBLIC ${NE_PAHO_INC})
target_link_libraries(ne_paho_lazy PUBLIC ne_ports ${CMAKE_DL_LIBS} Threads::Threads)
add_library(ne::paho ALIAS ne_paho_lazy)

find_library(NE_MBEDTLS_LIB mbedtls REQUIRED)
find_library(NE_MBEDX509_LIB mbedx509 REQUIRED)
find_library(NE_MBEDCRYPTO_LIB mbedcrypto REQUIRED)
add_library(ne_mbedtls INTERFACE)
target_link_libraries(ne_mbedtls INTERFACE ${NE_MBEDTLS_LIB} ${NE_MBEDX509_LIB} ${NE_MBEDCRYPTO_LIB})
add_library(ne::mbedtls ALIAS ne_mbedtls)
