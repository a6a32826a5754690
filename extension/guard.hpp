// The one boundary between Postgres (errors are longjmps that skip C++ destructors)
// and C++ (exceptions that must never reach Postgres's C frames).
//
//   Datum plivo_fn(PG_FUNCTION_ARGS) { return pg_plivo::cpp_entry([&] { ...C++... }); }
//
// cpp_entry runs the C++ in try/catch, copies the message out into fixed buffers,
// leaves the catch and only then raises the Postgres error. Inside, a Postgres call
// that may ereport(ERROR) while C++ objects are alive goes through pg_call(), which
// turns the Postgres error into a PostgresError exception (and back, at the boundary).
#pragma once

#include "postgres_headers.hpp"

#include <exception>
#include <type_traits>
#include <utility>

namespace pg_plivo {

// A Postgres error caught by pg_call, carried across C++ frames until cpp_entry re-raises it.
class PostgresError : public std::exception {
public:
    explicit PostgresError(ErrorData* data) : data_(data) {}
    const char* what() const noexcept override {
        return data_ && data_->message ? data_->message : "postgres error";
    }
    ErrorData* data() const { return data_; }

private:
    ErrorData* data_;  // palloc'd in the caller's memory context by CopyErrorData
};

// Runs `call` (Postgres code only: no C++ objects with destructors inside it) and turns
// an ereport(ERROR) into a PostgresError exception.
template <typename Call>
auto pg_call(Call&& call) -> decltype(call()) {
    using Result = decltype(call());
    if constexpr (std::is_void_v<Result>) {
        pg_call([&] {
            call();
            return 0;
        });
    } else {
        MemoryContext caller_context = CurrentMemoryContext;
        ErrorContextCallback* caller_error_context = error_context_stack;
        ErrorData* volatile caught = nullptr;
        Result volatile result{};
        PG_TRY();
        { result = call(); }
        PG_CATCH();
        {
            error_context_stack = caller_error_context;
            MemoryContextSwitchTo(caller_context);
            caught = CopyErrorData();
            FlushErrorState();
        }
        PG_END_TRY();
        if (caught) throw PostgresError(caught);
        return result;
    }
}

// What a caught C++ exception becomes, copied into fixed buffers inside the catch so
// that nothing there can itself raise a Postgres error.
struct BoundaryError {
    int sqlstate = 0;
    char message[1024] = {0};
    char detail[1024] = {0};
    char hint[1024] = {0};
    ErrorData* postgres_error = nullptr;
};

void capture_current_exception(BoundaryError& error) noexcept;
[[noreturn]] void raise_boundary_error(const BoundaryError& error);

// Runs C++ for a SQL-callable function or trigger; exceptions become Postgres errors.
template <typename Body>
Datum cpp_entry(Body&& body) {
    BoundaryError error;
    try {
        return body();
    } catch (...) {
        capture_current_exception(error);
    }
    raise_boundary_error(error);
}

}  // namespace pg_plivo
