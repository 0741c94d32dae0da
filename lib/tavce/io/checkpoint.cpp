// Checkpoint tensor views -> owned, contiguous at::Tensor copies.
#include "tavce/io/checkpoint.h"

#include <algorithm>
#include <cstring>

#include <ATen/ops/as_strided.h>
#include <ATen/ops/empty.h>

#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/io/torch_checkpoint.h"

namespace tavce::io {

at::Tensor to_tensor(const TensorRef& ref) {
  check_tensor_ref(ref, "tensor on storage '" + ref.storage_key + "'");
  const auto options = at::TensorOptions().dtype(scalar_type(ref.dtype)).device(at::kCPU);
  const int64_t numel = ref.numel();
  if (numel == 0) return at::empty(ref.shape, options);
  const size_t esize = dtype_size(ref.dtype);

  // The elements the view can reach: [first, last], checked above to lie in
  // the storage. Only that span is copied (into aligned memory: the file's
  // bytes need not be), then the view is taken on the copy.
  const int64_t first = ref.storage_offset;
  int64_t last = first;
  for (size_t k = 0; k < ref.shape.size(); ++k) last += (ref.shape[k] - 1) * ref.strides[k];
  const uint8_t* src = ref.storage + static_cast<size_t>(first) * esize;
  const size_t span_bytes = static_cast<size_t>(last - first + 1) * esize;
  if (ref.dtype == DType::BOOL && std::any_of(src, src + span_bytes, [](uint8_t b) { return b > 1; }))
    throw Error("tensor on storage '" + ref.storage_key + "' is BOOL but holds a byte other than 0 or 1");

  if (ref.is_contiguous()) {
    at::Tensor t = at::empty(ref.shape, options);
    std::memcpy(t.data_ptr(), src, static_cast<size_t>(numel) * esize);
    return t;
  }
  at::Tensor span = at::empty({last - first + 1}, options);
  std::memcpy(span.data_ptr(), src, span_bytes);
  return at::as_strided(span, ref.shape, ref.strides, 0).contiguous();
}

nn::TensorMap load_torch_state_dict(const std::string& path, const std::string& key_path, bool strip_module_prefix) {
  const TorchCheckpoint ck = TorchCheckpoint::open(path);
  nn::TensorMap out;
  for (const auto& [key, ref] : ck.state_dict(key_path)) {
    at::Tensor t;
    try {
      t = to_tensor(ref);
    } catch (const Error& e) {
      throw Error(path + ": '" + key + "': " + e.what());
    }
    out.emplace(key, std::move(t));
  }
  if (!strip_module_prefix) return out;
  nn::TensorMap stripped = nn::strip_data_parallel(out);
  if (stripped.size() != out.size())
    throw Error(path + ": removing the 'module.' prefix makes two keys of '" + key_path + "' equal");
  return stripped;
}

}  // namespace tavce::io
