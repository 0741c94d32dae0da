// Reader and writer for the safetensors container (8-byte little-endian header
// length, JSON header, raw little-endian data). No LibTorch here: tensors are
// byte views; tavce/io/tensor_io.h turns them into at::Tensor.
//
// The reader validates the whole header before exposing anything: the JSON is
// well formed, every entry has a known dtype, a shape and data_offsets, the
// offsets lie inside the data section, dtype size x shape = byte length, and
// no two tensors overlap. Any violation throws tavce::Error naming the file and
// the problem; a malformed file never crashes the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tavce::io {

enum class DType { BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "F32", ... as spelled in the header

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // valid while the owning SafeTensors lives
  size_t nbytes = 0;

  int64_t numel() const;
};

class SafeTensors {
 public:
  // Reads and validates the file; throws tavce::Error on any problem.
  static SafeTensors open(const std::string& path);
  // Same, from bytes in memory (label is used in error messages).
  static SafeTensors parse(std::vector<uint8_t> bytes, const std::string& label);

  const std::string& label() const { return label_; }
  // Tensors sorted by name.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const;
  // Throws tavce::Error naming the file and the missing key.
  const TensorView& at(const std::string& name) const;
  // The optional "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The whole file (every view points inside it); lets tests check that.
  const std::vector<uint8_t>& bytes() const { return *bytes_; }

 private:
  std::string label_;
  std::shared_ptr<const std::vector<uint8_t>> bytes_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: the caller keeps data alive during the call.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes atomically (temporary file in the same folder, then rename), tensors
// in name order, header padded with spaces to a multiple of 8.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace tavce::io
