#pragma once
// TFRecord framing (TensorFlow tensorflow/core/lib/io/record_writer.cc), the container of TensorBoard event
// files. Each record is
//   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
// (io/crc32c.h for the mask).
#include <string>
#include <vector>

namespace nablagfn {

// The framed bytes of one record holding data.
std::string frame_tfrecord(const std::string& data);
// The records of a whole file's bytes, in order; Error naming the record on a truncated record or a CRC
// mismatch (a corrupt or half-written file).
std::vector<std::string> read_tfrecords(const std::string& bytes);

}  // namespace nablagfn
