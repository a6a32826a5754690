// cpp-httplib as Debian builds it: libcpp-httplib.so is compiled with OpenSSL, zlib
// and Brotli support, and those macros change class layouts (Request gains an `ssl`
// member), so every file that includes httplib.h must define them the same way.
// The simulator, the relay and the unit tests include this instead of <httplib.h>, and
// only where needed: it is a big header.
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
