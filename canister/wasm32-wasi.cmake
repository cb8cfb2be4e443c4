# CMake toolchain file for the canister: clang-19 + Debian's wasi-libc, wasm32.
#   cmake -S . -B build-canister/cmake -DCMAKE_TOOLCHAIN_FILE=canister/wasm32-wasi.cmake \
#         -DNOVAQ_DEPS_INCLUDE=... -DNOVAQ_DEPS_LIBS=...   (scripts/build-canister.sh does it)
# It turns on NOVAQ_CORE_ONLY and NOVAQ_CANISTER: the core and canister/ are built, cli/
# and the native tests are not.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(CMAKE_C_COMPILER clang-19)
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_AR llvm-ar-19 CACHE FILEPATH "")
set(CMAKE_RANLIB llvm-ranlib-19 CACHE FILEPATH "")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_EXECUTABLE_SUFFIX ".wasm")
# wasi-libc headers only: without -nostdlibinc glibc's /usr/include would leak in.
set(CMAKE_C_FLAGS_INIT "-nostdlibinc -isystem /usr/include/wasm32-wasi -ffunction-sections -fdata-sections")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-L/usr/lib/wasm32-wasi")
set(NOVAQ_CORE_ONLY ON CACHE BOOL "" FORCE)
set(NOVAQ_CANISTER ON CACHE BOOL "" FORCE)
