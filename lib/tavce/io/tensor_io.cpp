// safetensors views -> CPU at::Tensor copies.
#include "tavce/io/tensor_io.h"

#include <cstring>
#include <limits>
#include <vector>

#include <ATen/ops/empty.h>

#include "tavce/error.h"

// safetensors data is little-endian and copied byte for byte below.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor_io.cpp copies little-endian safetensors data as is: big-endian hosts need byte swapping"
#endif

namespace tavce::io {

at::ScalarType scalar_type(DType dtype) {
  switch (dtype) {
    case DType::BOOL: return at::kBool;
    case DType::U8: return at::kByte;
    case DType::I8: return at::kChar;
    case DType::I16: return at::kShort;
    case DType::I32: return at::kInt;
    case DType::I64: return at::kLong;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F32: return at::kFloat;
    case DType::F64: return at::kDouble;
  }
  throw Error("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

namespace {

// Views from SafeTensors are already checked, but a TensorView is a plain
// struct that callers may fill in themselves; never memcpy past its data.
void check_view(const TensorView& view) {
  const std::string who = "tensor '" + view.name + "'";
  uint64_t numel = 1;
  for (int64_t d : view.shape) {
    if (d < 0 || __builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error(who + " has an invalid shape");
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(view.dtype)), &nbytes) ||
      nbytes != view.nbytes)
    throw Error(who + ": " + std::to_string(view.nbytes) + " bytes do not match its " +
                dtype_name(view.dtype) + " shape");
  if (view.nbytes > 0 && view.data == nullptr) throw Error(who + " has no data");
  if (view.dtype == DType::BOOL)
    for (size_t i = 0; i < view.nbytes; ++i)
      if (view.data[i] > 1) throw Error(who + " is BOOL but holds a byte other than 0 or 1");
}

}  // namespace

at::Tensor to_tensor(const TensorView& view) {
  check_view(view);
  // A fresh tensor is suitably aligned; the file's data usually is not (the
  // golden files pack tensors back to back), hence a copy instead of from_blob.
  const auto options = at::TensorOptions().dtype(scalar_type(view.dtype)).device(at::kCPU);
  at::Tensor t = at::empty(view.shape, options);
  if (view.nbytes > 0) std::memcpy(t.data_ptr(), view.data, view.nbytes);
  return t;
}

std::map<std::string, at::Tensor> load_tensors(const SafeTensors& file, bool float_to_f32) {
  std::map<std::string, at::Tensor> out;
  for (const TensorView& view : file.tensors()) {
    at::Tensor t = to_tensor(view);
    if (float_to_f32 && at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kFloat)
      t = t.to(at::kFloat);
    out.emplace(view.name, std::move(t));
  }
  return out;
}

}  // namespace tavce::io
