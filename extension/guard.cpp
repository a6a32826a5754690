// The boundary guard's error translation (see guard.hpp).
#include "guard.hpp"

#include <cstdio>
#include <new>

#include "input_error.hpp"

namespace pg_plivo {

namespace {

void copy_text(char* target, std::size_t size, const char* text) {
    std::snprintf(target, size, "%s", text ? text : "");
}

int sqlstate_for(plivo::InputErrorKind kind) {
    switch (kind) {
        case plivo::InputErrorKind::NullValue:
            return ERRCODE_NULL_VALUE_NOT_ALLOWED;
        case plivo::InputErrorKind::StringTooLong:
            return ERRCODE_STRING_DATA_RIGHT_TRUNCATION;
        case plivo::InputErrorKind::BadJson:
            return ERRCODE_INVALID_JSON_TEXT;
        case plivo::InputErrorKind::InvalidAuthorization:
            return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
        case plivo::InputErrorKind::InvalidParameter:
        case plivo::InputErrorKind::MissingSetting:
            break;
    }
    return ERRCODE_INVALID_PARAMETER_VALUE;
}

}  // namespace

void capture_current_exception(BoundaryError& error) noexcept {
    try {
        throw;
    } catch (const PostgresError& e) {
        error.postgres_error = e.data();
    } catch (const plivo::InputError& e) {
        error.sqlstate = sqlstate_for(e.kind());
        copy_text(error.message, sizeof error.message, e.what());
        copy_text(error.detail, sizeof error.detail, e.detail().c_str());
        copy_text(error.hint, sizeof error.hint, e.hint().c_str());
    } catch (const std::bad_alloc&) {
        error.sqlstate = ERRCODE_OUT_OF_MEMORY;
        copy_text(error.message, sizeof error.message, "out of memory in pg_plivo");
    } catch (const std::exception& e) {
        error.sqlstate = ERRCODE_INTERNAL_ERROR;
        copy_text(error.message, sizeof error.message, e.what());
    } catch (...) {
        error.sqlstate = ERRCODE_INTERNAL_ERROR;
        copy_text(error.message, sizeof error.message, "unknown C++ exception in pg_plivo");
    }
}

void raise_boundary_error(const BoundaryError& error) {
    if (error.postgres_error) ReThrowError(error.postgres_error);
    ereport(ERROR, (errcode(error.sqlstate), errmsg_internal("%s", error.message),
                    error.detail[0] ? errdetail_internal("%s", error.detail) : 0,
                    error.hint[0] ? errhint("%s", error.hint) : 0));
    pg_unreachable();
}

}  // namespace pg_plivo
