#pragma once
// Baseline JPEG encoding on libjpeg(-turbo), torch-free: libjpeg's defaults as PIL uses them (YCbCr,
// 4:2:0 chroma subsampling, standard Huffman tables). Used by `nablagfn sample --out x.jpg` and the
// jpeg_compressibility reward. Needs libjpeg at build time (NABLAGFN_HAS_JPEG); without it the
// functions throw a one-line Error.
#include <string>

#include "io/png.h"

namespace nablagfn {

// Whether this build links libjpeg.
bool jpeg_available();

// The JPEG file bytes of an 8-bit RGB image (channels 3; 1 is written as gray) at quality 1..100.
std::string encode_jpeg(const Image& image, int quality);
// Writes image as a JPEG atomically (encoded in memory, then io/atomic_file.h).
void write_jpeg(const std::string& path, const Image& image, int quality = 95);

}  // namespace nablagfn
