// Included last in every dispatcher/ source file: dispatcher/ is pure C++ and must
// never see a Postgres header (their macros collide with abseil/protobuf, and a
// Postgres error longjmp would skip our destructors). The CMake build also compiles
// dispatcher/ without the server include path, so an include fails there too.
#pragma once

#if defined(POSTGRES_H) || defined(C_H) || defined(PG_CONFIG_H)
static_assert(false, "dispatcher/ must not include PostgreSQL headers");
#endif
