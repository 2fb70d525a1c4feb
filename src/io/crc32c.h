#pragma once
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; RFC 3720 §B.4) and the masked form TFRecord files
// store (TensorFlow tensorflow/core/lib/hash/crc32c.h `Mask`): rotate right by 15 bits, add 0xa282ead8.
#include <cstddef>
#include <cstdint>
#include <string>

namespace nablagfn {

// CRC-32C of n bytes; crc32c("123456789") = 0xE3069283.
uint32_t crc32c(const void* data, size_t n);
inline uint32_t crc32c(const std::string& bytes) { return crc32c(bytes.data(), bytes.size()); }
// ((crc >> 15) | (crc << 17)) + 0xa282ead8, modulo 2^32.
uint32_t mask_crc32c(uint32_t crc);

}  // namespace nablagfn
