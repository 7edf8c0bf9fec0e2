// stb_image compiled into the datasets library rather than taken from Debian's libstb: only the two formats image
// folders hold (less decoder exposed to untrusted files), no stdio (files are read by image_folder.cpp), and under
// the fuzz build the decoder is instrumented like our own code. STB_IMAGE_STATIC keeps its symbols private to
// this file; image_folder.cpp reaches them through the wrappers below.
#include <stdlib.h>
#include <string.h>

// stb mallocs its decoder state without clearing it: a JPEG scan that uses a Huffman table no DHT segment defined
// decodes with garbage table entries and writes out of bounds (a crash in the Release build, found by replaying
// tests/fuzz/corpus/image/finding_jpeg_huffman_assert). Zeroed memory makes an undefined table an empty one.
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC(p, size) realloc(p, size)
#define STBI_FREE(p) free(p)

// stb_image 2.27 calls memcpy(NULL, p, 0) for a PNG whose first IDAT chunk is empty: undefined behaviour (memcpy's
// pointers are declared non-null, which lets the compiler drop later null checks), so its copies go through a
// wrapper that does nothing for zero bytes (found by tests/fuzz/image.cpp).
static inline void* stb_memcpy(void* dst, const void* src, size_t n) { return n ? memcpy(dst, src, n) : dst; }
#define memcpy(dst, src, n) stb_memcpy(dst, src, n)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
// stb asserts on states that corrupt files reach (its Huffman decoder's, on bad code tables): the Release build
// compiles them out, and so does every other build, so that a bad JPEG is an error and not an abort.
#define STBI_ASSERT(x) ((void)0)
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb_image.h>
#pragma GCC diagnostic pop
#undef memcpy

#include "datasets/stb_image_impl.h"

namespace sf::stb {

bool info(const unsigned char* data, int size, int* w, int* h, int* comp) {
  return stbi_info_from_memory(data, size, w, h, comp) != 0;
}
unsigned char* load_rgb(const unsigned char* data, int size, int* w, int* h) {
  int comp = 0;
  return stbi_load_from_memory(data, size, w, h, &comp, 3);
}
void free_image(void* p) { stbi_image_free(p); }
const char* failure_reason() { return stbi_failure_reason(); }  // per thread (STBI_THREAD_LOCAL)

}  // namespace sf::stb
