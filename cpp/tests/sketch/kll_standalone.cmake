# Builds the KLL sketch and its tests on their own, without the project's CMake (which globs all
# of cpp/src and cpp/tests). CMake wants project() in a real CMakeLists.txt, so include this file
# from a three-line one:
#
#   mkdir -p /tmp/kll_project && printf '%s\n' 'cmake_minimum_required(VERSION 3.16)' \
#     'project(kll_standalone LANGUAGES CXX)' \
#     'include(/work/main/cpp/tests/sketch/kll_standalone.cmake)' > /tmp/kll_project/CMakeLists.txt
#   cmake -S /tmp/kll_project -B /tmp/kllbuild -DCMAKE_BUILD_TYPE=Debug
#   cmake --build /tmp/kllbuild -j && /tmp/kllbuild/kll_tests
#
# Add -DKLL_SANITIZE=ON for an AddressSanitizer + UndefinedBehaviorSanitizer build.
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
option(KLL_SANITIZE "Build with -fsanitize=address,undefined" OFF)

get_filename_component(KLL_CPP_DIR "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
find_package(GTest REQUIRED)

add_library(kll STATIC ${KLL_CPP_DIR}/src/sketch/kll.cpp)
target_include_directories(kll PUBLIC ${KLL_CPP_DIR}/include)
# Same flags as the project's core library.
target_compile_options(kll PRIVATE -ffp-contract=off -Wall -Wextra)

add_executable(kll_tests ${KLL_CPP_DIR}/tests/sketch/test_kll.cpp)
target_link_libraries(kll_tests PRIVATE kll GTest::gtest_main)
target_compile_options(kll_tests PRIVATE -Wall -Wextra)

if(KLL_SANITIZE)
  foreach(target kll kll_tests)
    target_compile_options(${target} PRIVATE
      -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endforeach()
endif()
