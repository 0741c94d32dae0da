#include "tavce/nn/state_dict.h"

#include <sstream>
#include <vector>

#include <torch/nn/module.h>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_string(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < sizes.size(); ++i) os << (i ? ", " : "") << sizes[i];
  os << ']';
  return os.str();
}

void list_section(std::ostringstream& msg, const char* title, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  msg << "\n  " << title << " (" << keys.size() << "):";
  const size_t shown = std::min<size_t>(keys.size(), 20);
  for (size_t i = 0; i < shown; ++i) msg << "\n    " << keys[i];
  if (shown < keys.size()) msg << "\n    ... and " << keys.size() - shown << " more";
}

}  // namespace

TensorMap select_prefix(const TensorMap& tensors, const std::string& prefix) {
  TensorMap out;
  for (const auto& [key, value] : tensors)
    if (key.rfind(prefix, 0) == 0) out.emplace(key.substr(prefix.size()), value);
  return out;
}

TensorMap strip_data_parallel(const TensorMap& tensors) {
  TensorMap out;
  for (const auto& [key, value] : tensors)
    out.emplace(key.rfind("module.", 0) == 0 ? key.substr(7) : key, value);
  return out;
}

TensorMap fold_spectral_norm(const TensorMap& tensors) {
  TensorMap out;
  for (const auto& [key, value] : tensors) {
    if (ends_with(key, ".weight_u") || ends_with(key, ".weight_v")) {
      const std::string base = key.substr(0, key.size() - 2);  // "X.weight"
      if (!tensors.count(base + "_orig"))
        throw Error("spectral norm: '" + key + "' has no matching '" + base + "_orig'");
      continue;
    }
    if (!ends_with(key, ".weight_orig")) {
      out.emplace(key, value);
      continue;
    }
    const std::string stem = key.substr(0, key.size() - 5);  // "X.weight"
    auto u_it = tensors.find(stem + "_u");
    auto v_it = tensors.find(stem + "_v");
    if (u_it == tensors.end() || v_it == tensors.end())
      throw Error("spectral norm: '" + key + "' needs '" + stem + "_u' and '" + stem + "_v'");
    const at::Tensor w = value.to(at::kFloat);
    const at::Tensor mat = w.reshape({w.size(0), -1});
    const at::Tensor u = u_it->second.to(at::kFloat), v = v_it->second.to(at::kFloat);
    if (u.numel() != mat.size(0) || v.numel() != mat.size(1))
      throw Error("spectral norm: '" + stem + "_u/_v' do not match '" + key + "' of shape " +
                  shape_string(w.sizes()));
    const at::Tensor sigma = at::dot(u, at::mv(mat, v));
    out.emplace(stem, w / sigma);
  }
  return out;
}

TensorMap state_dict(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out.emplace(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) out.emplace(item.key(), item.value());
  return out;
}

void load_state_dict(torch::nn::Module& module, const TensorMap& tensors, const std::string& label) {
  const TensorMap target = state_dict(module);
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [key, dst] : target) {
    auto it = tensors.find(key);
    if (it == tensors.end()) {
      missing.push_back(key);
    } else if (it->second.sizes() != dst.sizes()) {
      mismatched.push_back(key + ": file " + shape_string(it->second.sizes()) + ", model " +
                           shape_string(dst.sizes()));
    }
  }
  for (const auto& [key, src] : tensors)
    if (!target.count(key)) unexpected.push_back(key);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream msg;
    msg << label << ": state dict does not match the model";
    list_section(msg, "missing keys", missing);
    list_section(msg, "unexpected keys", unexpected);
    list_section(msg, "shape mismatches", mismatched);
    throw Error(msg.str());
  }
  at::NoGradGuard no_grad;
  for (const auto& [key, dst] : target) {
    at::Tensor d = dst;  // shares storage with the module's tensor
    d.copy_(tensors.at(key).to(d.scalar_type()));
  }
}

}  // namespace tavce::nn
