#include "tavce/models/bundle_weights.h"

#include <filesystem>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"

namespace tavce::models {
namespace {

io::DType dtype_of(const at::Tensor& t, const std::string& key) {
  switch (t.scalar_type()) {
    case at::kFloat: return io::DType::F32;
    case at::kHalf: return io::DType::F16;
    case at::kBFloat16: return io::DType::BF16;
    case at::kDouble: return io::DType::F64;
    case at::kLong: return io::DType::I64;
    case at::kInt: return io::DType::I32;
    case at::kShort: return io::DType::I16;
    case at::kChar: return io::DType::I8;
    case at::kByte: return io::DType::U8;
    case at::kBool: return io::DType::BOOL;
    default: throw Error("cannot save tensor '" + key + "': dtype " + std::string(c10::toString(t.scalar_type())) +
                         " has no safetensors equivalent");
  }
}

}  // namespace

void save_tensors(const std::string& path, const nn::TensorMap& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;  // contiguous CPU copies alive until written
  std::vector<io::TensorToWrite> out;
  keep.reserve(tensors.size());
  for (const auto& [key, tensor] : tensors) {
    keep.push_back(tensor.detach().to(at::kCPU).contiguous());
    const at::Tensor& t = keep.back();
    io::TensorToWrite w;
    w.name = key;
    w.dtype = dtype_of(t, key);
    w.shape = t.sizes().vec();
    w.data = t.data_ptr();
    w.nbytes = t.nbytes();
    out.push_back(std::move(w));
  }
  io::write_safetensors(path, out, metadata);
}

nn::TensorMap bundle_module_tensors(const std::string& dir, const Bundle& bundle, const std::string& module) {
  const auto [file, prefix] = bundle.locate(module);
  const auto st = io::SafeTensors::open((std::filesystem::path(dir) / file).string());
  nn::TensorMap all = io::load_tensors(st, true);
  return prefix.empty() ? all : nn::select_prefix(all, prefix);
}

void load_bundle_module(const std::string& dir, const Bundle& bundle, const std::string& module,
                        torch::nn::Module& into) {
  nn::load_state_dict(into, bundle_module_tensors(dir, bundle, module), "bundle '" + bundle.name + "' module '" + module + "'");
}

}  // namespace tavce::models
