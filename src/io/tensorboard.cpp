// TensorBoard event writer: hand-written protobuf wire format (varint, fixed32/64, length-delimited);
// see tensorboard.h for the fields.
#include "io/tensorboard.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/fs_util.h"
#include "io/tfrecord.h"

namespace nablagfn {

namespace {
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, uint32_t field, WireType type) { put_varint(out, (field << 3) | type); }
void put_fixed(std::string& out, uint64_t bits, int n_bytes) {
  for (int i = 0; i < n_bytes; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}
void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}
void put_int(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(v));  // negative int64: ten-byte two's complement, as protobuf does
}

// An Event with wall_time = now, step, and `body` (already-encoded fields 3 or 5) appended.
std::string event(int64_t step, const std::string& body) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  uint64_t bits;
  std::memcpy(&bits, &now, sizeof bits);
  std::string out;
  put_key(out, 1, kFixed64);
  put_fixed(out, bits, 8);
  put_int(out, 2, step);
  return out + body;
}

std::string summary_of(const std::string& values) {
  std::string body;
  put_bytes(body, 5, values);
  return body;
}

uint32_t read_be32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  make_directories(dir);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  path_ = join_path(dir, "events.out.tfevents." + std::to_string(seconds) + "." + host);
  file_ = std::fopen(path_.c_str(), "ab");
  require(file_ != nullptr, "cannot write TensorBoard event file '" + path_ + "'",
          "check that the run directory is writable");
  std::string version;
  put_bytes(version, 3, "brain.Event:2");
  write_event(event(0, version));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::write_event(const std::string& e) {
  const std::string record = frame_tfrecord(e);
  require(std::fwrite(record.data(), 1, record.size(), file_) == record.size() && std::fflush(file_) == 0,
          "writing TensorBoard event file '" + path_ + "' failed", "check free disk space");
}

void TensorBoardWriter::add_scalars(const std::map<std::string, double>& values, int64_t step) {
  std::string summary;
  for (const auto& [tag, v] : values) {
    if (!std::isfinite(v)) continue;
    const float f = static_cast<float>(v);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    std::string value;
    put_bytes(value, 1, tag);
    put_key(value, 2, kFixed32);
    put_fixed(value, bits, 4);
    put_bytes(summary, 1, value);
  }
  if (!summary.empty()) write_event(event(step, summary_of(summary)));
}

void TensorBoardWriter::add_png(const std::string& tag, const std::string& png, int64_t step) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  require(png.size() >= 33 && png.compare(0, 8, kSignature, 8) == 0 && png.compare(12, 4, "IHDR") == 0,
          "TensorBoard image '" + tag + "' is not a PNG", "pass the bytes of a .png file");
  // IHDR: width and height big-endian at bytes 16 and 20, colour type at byte 25.
  const int colour_type = static_cast<unsigned char>(png[25]);
  const int colorspace = colour_type == 0 ? 1 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 3;
  std::string image;
  put_int(image, 1, read_be32(png, 20));
  put_int(image, 2, read_be32(png, 16));
  put_int(image, 3, colorspace);
  put_bytes(image, 4, png);
  std::string value;
  put_bytes(value, 1, tag);
  put_bytes(value, 4, image);
  std::string summary;
  put_bytes(summary, 1, value);
  write_event(event(step, summary_of(summary)));
}

}  // namespace nablagfn
