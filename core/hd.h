// SF_HD marks the math that CPU and CUDA kernels share (llm.c keeps the CPU reference beside each kernel; we
// keep one function for both): nvcc compiles it for host and device, g++ sees a plain inline function, so the
// CPU tests exercise the source the GPU runs. The results may differ in the last bits: nvcc contracts a·b + c
// into FMAs, g++ in ISO mode does not.
#pragma once

#if defined(__CUDACC__)
#define SF_HD __host__ __device__
#else
#define SF_HD
#endif
