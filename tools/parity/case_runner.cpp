#include "parity/case_runner.h"

#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>

#include "tavce/error.h"
#include "tavce/io/tensor_io.h"

namespace tavce::parity {

std::unique_ptr<CaseRunner> make_mel_runner();
std::unique_ptr<CaseRunner> make_face3d_recon_runner();
std::unique_ptr<CaseRunner> make_correlation_runner();
std::unique_ptr<CaseRunner> make_audio2exp_runner();
std::unique_ptr<CaseRunner> make_audio2pose_runner();
std::unique_ptr<CaseRunner> make_audio2coeff_seq_runner();
std::unique_ptr<CaseRunner> make_mapping_runner();
std::unique_ptr<CaseRunner> make_keypoint_transform_runner();
std::unique_ptr<CaseRunner> make_kp_detector_runner();
std::unique_ptr<CaseRunner> make_syncnet_runner();

std::unique_ptr<CaseRunner> make_generator_runner();
std::unique_ptr<CaseRunner> make_animation_runner();
std::unique_ptr<CaseRunner> make_crop_align_runner();

std::vector<std::unique_ptr<CaseRunner>> all_runners() {
  std::vector<std::unique_ptr<CaseRunner>> runners;
  runners.push_back(make_mel_runner());
  runners.push_back(make_face3d_recon_runner());
  runners.push_back(make_correlation_runner());
  runners.push_back(make_audio2exp_runner());
  runners.push_back(make_audio2pose_runner());
  runners.push_back(make_audio2coeff_seq_runner());
  runners.push_back(make_mapping_runner());
  runners.push_back(make_keypoint_transform_runner());
  runners.push_back(make_kp_detector_runner());
  runners.push_back(make_syncnet_runner());
  runners.push_back(make_generator_runner());
  runners.push_back(make_animation_runner());
  runners.push_back(make_crop_align_runner());
  return runners;
}

CaseFolder::CaseFolder(const std::filesystem::path& dir)
    : dir_(dir), io_(io::SafeTensors::open((dir / "io.safetensors").string())) {
  std::ifstream in(dir / "case.json");
  if (!in) throw Error((dir / "case.json").string() + ": cannot open");
  try {
    spec_ = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error((dir / "case.json").string() + ": invalid JSON: " + e.what());
  }
  if (!spec_.contains("cases") || !spec_["cases"].is_array())
    throw Error((dir / "case.json").string() + ": no \"cases\" list");
}

std::string CaseFolder::module() const { return spec_.value("module", std::string()); }

at::Tensor CaseFolder::io(const std::string& name) const {
  at::Tensor t = io::to_tensor(io_.at(name));
  return at::isFloatingType(t.scalar_type()) ? t.to(at::kFloat) : t;
}

const io::SafeTensors& CaseFolder::weights(const std::string& file) const {
  for (const auto& [name, st] : weights_)
    if (name == file) return *st;
  auto st = std::make_shared<io::SafeTensors>(io::SafeTensors::open((dir_ / file).string()));
  weights_.emplace_back(file, st);
  return *st;
}

std::string CaseFolder::weights_file(const nlohmann::json& case_spec) const {
  return case_spec.value("weights", spec_.value("weights", std::string("weights.safetensors")));
}

void CaseFolder::load_weights(torch::nn::Module& module, const std::string& file,
                              nn::TensorMap (*prepare)(const nn::TensorMap&)) const {
  nn::TensorMap tensors = io::load_tensors(weights(file), /*float_to_f32=*/true);
  if (prepare) tensors = prepare(tensors);
  nn::load_state_dict(module, tensors, (dir_ / file).string());
}

Tolerance case_tolerance(const nlohmann::json& case_spec) {
  Tolerance t;
  t.atol = case_spec.value("atol", 1e-4);
  t.rtol = case_spec.value("rtol", 0.0);
  return t;
}

void Report::compare(const std::string& case_name, const std::string& name, const at::Tensor& actual,
                     const at::Tensor& expected, Tolerance tol) {
  OutputResult r{case_name, name, 0.0, tol, false};
  if (actual.sizes() != expected.sizes()) {
    r.max_abs_err = INFINITY;
  } else {
    const at::Tensor a = actual.to(at::kDouble), e = expected.to(at::kDouble);
    const at::Tensor err = (a - e).abs();
    r.max_abs_err = err.numel() ? err.max().item<double>() : 0.0;
    r.pass = err.numel() == 0 || (err <= tol.atol + tol.rtol * e.abs()).all().item<bool>();
  }
  emit(r);
}

void Report::compare_exact(const std::string& case_name, const std::string& name,
                           const at::Tensor& actual, const at::Tensor& expected) {
  OutputResult r{case_name, name, 0.0, Tolerance{0.0, 0.0}, false};
  if (actual.sizes() != expected.sizes()) {
    r.max_abs_err = INFINITY;
  } else {
    const at::Tensor err = (actual.to(at::kLong) - expected.to(at::kLong)).abs();
    r.max_abs_err = err.numel() ? double(err.max().item<int64_t>()) : 0.0;
    r.pass = r.max_abs_err == 0.0;
  }
  emit(r);
}

bool Report::all_pass() const {
  for (const auto& r : results_)
    if (!r.pass) return false;
  return !results_.empty();
}

void Report::emit(const OutputResult& r) {
  results_.push_back(r);
  nlohmann::json line = {{"case", r.case_name},
                         {"output", r.output},
                         {"max_abs_err", std::isfinite(r.max_abs_err) ? nlohmann::json(r.max_abs_err)
                                                                        : nlohmann::json("shape mismatch")},
                         {"atol", r.tol.atol},
                         {"rtol", r.tol.rtol},
                         {"pass", r.pass}};
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
}

}  // namespace tavce::parity
