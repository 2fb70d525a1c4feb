#pragma once
// TensorBoard event files written without a protobuf dependency, so `tensorboard --logdir runs` shows a
// run's scalars and sample grids. File: <dir>/events.out.tfevents.<unix seconds>.<host>, TFRecord-framed
// (io/tfrecord.h) serialized tensorflow.Event messages (tensorflow/core/util/event.proto): the first holds
// file_version "brain.Event:2", each later one a Summary (tensorflow/core/framework/summary.proto) of
// simple_value scalars or one PNG-encoded Summary.Image. Fields written:
//   Event: 1 wall_time (double), 2 step (int64), 3 file_version (string), 5 summary (Summary)
//   Summary: 1 value (repeated Value); Value: 1 tag, 2 simple_value (float), 4 image (Image)
//   Image: 1 height, 2 width, 3 colorspace (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), 4 encoded_image_string
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace nablagfn {

class TensorBoardWriter {
 public:
  // Creates dir if needed and a new event file in it; Error when it cannot be written.
  explicit TensorBoardWriter(const std::string& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One event with every finite value as a simple_value scalar under its tag (non-finite values are skipped).
  void add_scalars(const std::map<std::string, double>& values, int64_t step);
  // One event with a PNG image (the file's bytes); Error when png is not a PNG.
  void add_png(const std::string& tag, const std::string& png, int64_t step);
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event);  // frames, appends and flushes
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace nablagfn
