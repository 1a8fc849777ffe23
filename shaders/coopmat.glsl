// The 16x16 subgroup matrix types and operations of the tensor-core shaders, for either extension: COOPMAT_KHR
// (GL_KHR_cooperative_matrix) or COOPMAT_NV (GL_NV_cooperative_matrix). A: f16 left operand, B: f16 right operand,
// ACC: f32 accumulator; loads and stores take an array, an element offset, a stride and the layout.
#ifndef CKV_COOPMAT_GLSL
#define CKV_COOPMAT_GLSL
#if defined(COOPMAT_KHR)
#extension GL_KHR_cooperative_matrix : require
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define MAT_ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define LOAD_ROW_MAJOR(m, arr, at, stride) coopMatLoad(m, arr, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define LOAD_COL_MAJOR(m, arr, at, stride) coopMatLoad(m, arr, at, stride, gl_CooperativeMatrixLayoutColumnMajor)
#define STORE_ROW_MAJOR(m, arr, at, stride) coopMatStore(m, arr, at, stride, gl_CooperativeMatrixLayoutRowMajor)
#define MUL_ADD(a, b, c) coopMatMulAdd(a, b, c)
#elif defined(COOPMAT_NV)
#extension GL_NV_cooperative_matrix : require
#define MAT_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_B fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_ACC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define LOAD_ROW_MAJOR(m, arr, at, stride) coopMatLoadNV(m, arr, at, stride, false)
#define LOAD_COL_MAJOR(m, arr, at, stride) coopMatLoadNV(m, arr, at, stride, true)
#define STORE_ROW_MAJOR(m, arr, at, stride) coopMatStoreNV(m, arr, at, stride, false)
#define MUL_ADD(a, b, c) coopMatMulAddNV(a, b, c)
#else
#error "define COOPMAT_KHR or COOPMAT_NV"
#endif
#endif
