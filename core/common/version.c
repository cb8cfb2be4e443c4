/* version.c - what this build is: the library and format versions, and the zstd and cJSON
 * it was compiled against with where their code came from (NOVAQ_DEPS_ORIGIN, set by
 * core/CMakeLists.txt: the system's -dev packages natively, the Debian source packages that
 * scripts/fetch-deb-sources.sh verified for the wasm and canister builds). zstd's version
 * matters: the encoder's compressed parts are zstd's bytes (docs/FORMAT.md, "zstd"). */
#include <cjson/cJSON.h>
#include <zstd.h>
#include "novaq.h"

#ifndef NOVAQ_DEPS_ORIGIN
#define NOVAQ_DEPS_ORIGIN "not recorded"
#endif
#define NQ_STR_(x) #x
#define NQ_STR(x) NQ_STR_(x)

const char *nq_build_info(void) {
    return "novaq " NQ_VERSION_STRING " (format " NQ_STR(NQ_FORMAT_VERSION) "); zstd " ZSTD_VERSION_STRING
           ", cJSON " NQ_STR(CJSON_VERSION_MAJOR) "." NQ_STR(CJSON_VERSION_MINOR) "." NQ_STR(CJSON_VERSION_PATCH)
           "; from " NOVAQ_DEPS_ORIGIN;
}
