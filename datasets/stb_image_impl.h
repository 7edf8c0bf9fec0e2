// The few stb_image calls the image reader makes (datasets/stb_image_impl.cpp holds the decoder itself).
#pragma once

namespace sf::stb {

bool info(const unsigned char* data, int size, int* w, int* h, int* comp);
unsigned char* load_rgb(const unsigned char* data, int size, int* w, int* h);  // null on failure
void free_image(void* p);
const char* failure_reason();

}  // namespace sf::stb
