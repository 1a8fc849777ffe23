# The installable package. `cmake --install build --prefix P` puts the ckv binary in P/bin, the public header
# in P/include/compresskv/, one static library libcompresskv.a in P/lib and the package config in
# P/lib/cmake/compresskv, so that a consumer does
#   find_package(compresskv REQUIRED)
#   target_link_libraries(app PRIVATE compresskv::compresskv)
#
# libcompresskv.a holds the object files of the engine, the Vulkan layer and the embedded shaders (no second
# compile), so a consumer sees one library and one header; internal headers stay in the build tree. Its only
# link dependencies are the Vulkan loader and threads: nlohmann_json and spdlog are header-only and used inside
# the engine only.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
find_package(Threads REQUIRED)

add_library(compresskv STATIC $<TARGET_OBJECTS:ckv_engine> $<TARGET_OBJECTS:ckv_vk> $<TARGET_OBJECTS:ckv_shaders>)
add_library(compresskv::compresskv ALIAS compresskv)
set_target_properties(compresskv PROPERTIES LINKER_LANGUAGE CXX)
target_include_directories(compresskv INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/engine/include>
                                                $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(compresskv INTERFACE cxx_std_17)
target_link_libraries(compresskv INTERFACE Vulkan::Vulkan Threads::Threads)
if(CKV_SANITIZE)  # instrumented objects need the sanitizer runtimes in whatever links them
  target_link_options(compresskv INTERFACE -fsanitize=address,undefined)
endif()

set(CKV_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/compresskv)
install(TARGETS compresskv EXPORT compresskvTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/engine/include/compresskv/compresskv.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/compresskv)
install(EXPORT compresskvTargets NAMESPACE compresskv:: DESTINATION ${CKV_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/compresskvConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/compresskvConfig.cmake INSTALL_DESTINATION ${CKV_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/compresskvConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/compresskvConfig.cmake ${PROJECT_BINARY_DIR}/compresskvConfigVersion.cmake
        DESTINATION ${CKV_CMAKE_DIR})
install(TARGETS ckv RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
