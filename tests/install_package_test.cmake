# ctest: installs the build into a fresh prefix inside the build tree, builds examples/embed against it with
# find_package(compresskv) as an outside project would, and runs it for two tokens on the default model (a short
# prompt without the chat template: lavapipe is slow).
# cmake -DBUILD_DIR= -DSOURCE_DIR= -DWORK_DIR= -DGENERATOR= -DCXX_COMPILER= -DMODEL= -P install_package_test.cmake
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER MODEL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_package_test.cmake needs -D${var}=...")
  endif()
endforeach()

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(consumer ${WORK_DIR}/embed-build)
file(REMOVE_RECURSE ${WORK_DIR})

run_step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(installed include/compresskv/compresskv.hpp bin/ckv)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "the install did not put ${installed} into ${prefix}")
  endif()
endforeach()
# Only the public header is installed: the engine's internal headers stay in the source tree.
file(GLOB_RECURSE headers RELATIVE ${prefix}/include ${prefix}/include/*)
if(NOT headers STREQUAL "compresskv/compresskv.hpp")
  message(FATAL_ERROR "installed headers: ${headers} (expected only compresskv/compresskv.hpp)")
endif()

run_step("configuring examples/embed" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/embed -B ${consumer}
         -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release
         -DCMAKE_PREFIX_PATH=${prefix})
run_step("building examples/embed" ${CMAKE_COMMAND} --build ${consumer})

if(NOT EXISTS ${MODEL})
  message("SKIPPED: the package builds, but ${MODEL} is missing to run the example (tools/fetch-model.sh)")
  return()
endif()
set(ENV{ASAN_OPTIONS} "detect_leaks=0")  # sanitizer builds: leaks inside the Vulkan drivers are not ours
run_step("running embed" ${consumer}/embed ${MODEL} -p "The capital of France is" -n 2 --raw)
message("${step_output}")
if(NOT step_output MATCHES "prompt tokens at .* generated at .*KV cache:")
  message(FATAL_ERROR "embed printed no statistics")
endif()
