// stb_image compiled into the datasets library rather than taken from Debian's libstb: only the two formats image
// folders hold (less decoder exposed to untrusted files), no stdio (files are read by image_folder.cpp), and under
// the fuzz build the decoder is instrumented like our own code. STB_IMAGE_STATIC keeps its symbols private to
// this file; image_folder.cpp reaches them through the wrappers below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb_image.h>
#pragma GCC diagnostic pop

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
