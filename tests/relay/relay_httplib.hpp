// cpp-httplib as Debian builds it (see tests/simulator/sim_httplib.hpp): the shared
// library is compiled with OpenSSL, zlib and Brotli support, and those macros change
// class layouts, so every file that includes httplib.h must define them the same way.
#pragma once

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>
