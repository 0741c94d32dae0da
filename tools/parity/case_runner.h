// The golden case runner: a case folder (case.json + io.safetensors [+ weights])
// is handed to the runner that knows its module; every output is compared with
// the stored reference and reported as one JSON line.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "tavce/nn/state_dict.h"
#include <nlohmann/json.hpp>

#include "tavce/io/safetensors.h"

namespace tavce::parity {

struct Tolerance {
  double atol = 1e-4;
  double rtol = 0.0;
};

struct OutputResult {
  std::string case_name;
  std::string output;
  double max_abs_err = 0.0;
  Tolerance tol;
  bool pass = false;
};

class CaseFolder {
 public:
  explicit CaseFolder(const std::filesystem::path& dir);
  const std::filesystem::path& dir() const { return dir_; }
  const nlohmann::json& spec() const { return spec_; }
  // Module name as written in case.json.
  std::string module() const;
  // A tensor of io.safetensors, floating types as float32.
  at::Tensor io(const std::string& name) const;
  // weights.safetensors (or another file of the folder), loaded on demand.
  const io::SafeTensors& weights(const std::string& file = "weights.safetensors") const;
  // The weights file of a case: the case entry's "weights", else the folder's, else weights.safetensors.
  std::string weights_file(const nlohmann::json& case_spec) const;
  // Strictly loads `file` into `module` (floating tensors as float32), after
  // `prepare` (fold_spectral_norm, strip_data_parallel...) when given. A
  // missing, unexpected or mis-shaped key fails, naming the file.
  void load_weights(torch::nn::Module& module, const std::string& file = "weights.safetensors",
                    nn::TensorMap (*prepare)(const nn::TensorMap&) = nullptr) const;

 private:
  std::filesystem::path dir_;
  nlohmann::json spec_;
  io::SafeTensors io_;
  mutable std::vector<std::pair<std::string, std::shared_ptr<io::SafeTensors>>> weights_;
};

// Collects results and prints them as JSON lines.
class Report {
 public:
  // Compares actual with the stored output `name`: pass when every element
  // satisfies |a - e| <= atol + rtol * |e| and the shapes agree.
  void compare(const std::string& case_name, const std::string& name, const at::Tensor& actual,
               const at::Tensor& expected, Tolerance tol);
  // Integer outputs (indices, lengths) must match exactly.
  void compare_exact(const std::string& case_name, const std::string& name, const at::Tensor& actual,
                     const at::Tensor& expected);
  const std::vector<OutputResult>& results() const { return results_; }
  bool all_pass() const;

 private:
  void emit(const OutputResult& r);
  std::vector<OutputResult> results_;
};

class CaseRunner {
 public:
  virtual ~CaseRunner() = default;
  // True when this runner builds the module case.json describes.
  virtual bool handles(const std::string& module) const = 0;
  // Runs the named case (an entry of case.json "cases") or all when empty.
  virtual void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) = 0;
};

// Tolerance of a case entry (its atol/rtol, defaults when absent).
Tolerance case_tolerance(const nlohmann::json& case_spec);

// Every runner the tool knows.
std::vector<std::unique_ptr<CaseRunner>> all_runners();

}  // namespace tavce::parity
