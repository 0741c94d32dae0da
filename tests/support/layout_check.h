// Shared helpers of the shape tests: a torch::nn::Module's state-dict layout
// (key -> shape, dtype, param|buffer) against the golden JSON key tables
// (golden/shapes_audio.json: containers.<name>.keys = {key: {shape, dtype,
// kind}}; golden/shapes_render.json: containers.<name>.rows = [[key, shape,
// dtype, kind], ...]).
//
// No Check here: the functions return results (and print details to stderr);
// the tests do the ck_assert. Include <check.h> after this header.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

namespace tavce::testing {

// (shape, dtype, kind)
using LayoutRow = std::tuple<std::vector<int64_t>, std::string, std::string>;
// name -> (shape, dtype, kind)
using Layout = std::map<std::string, LayoutRow>;

// How dtypes are spelled: "float32"/"int64"/"float16"/"float64" (the torch
// names of shapes_audio.json) or "F32"/"I64"/"F16"/"F64" (safetensors names).
enum class DtypeStyle { kTorch, kSafetensors };

// $TAVCE_GOLDEN_DIR, else <source root>/../shared/golden.
std::string golden_dir();

// Parses the JSON file at path into *out; false when it cannot be opened
// (parse errors throw, as nlohmann::json::parse does).
bool load_json(const std::string& path, nlohmann::json* out);

// A dtype rewriting applied to the JSON's dtype strings (nullptr: none).
using DtypeMap = std::string (*)(const std::string&);

// The entries of a containers.<name>.keys object whose key starts with prefix,
// keyed by the rest of the key.
Layout layout_from_keys(const nlohmann::json& keys, const std::string& prefix, DtypeMap dtype_map = nullptr);

// The same for a containers.<name>.rows array of [key, shape, dtype, kind].
Layout layout_from_rows(const nlohmann::json& rows, const std::string& prefix, DtypeMap dtype_map = nullptr);

// The rows of docs/state_dict_keys.tsv (container<TAB>key<TAB>shape<TAB>
// param|buffer; shape "AxBxC" or "scalar") whose container column contains
// `container` (e.g. "['he_estimator']"), into *out. The file has no dtype
// column: num_batches_tracked counters are int64, the rest float32 (named in
// the given style). false, with the reason on stderr, when the file cannot be
// read or a key repeats.
bool layout_from_keys_tsv(const std::string& path, const std::string& container, DtypeStyle style, Layout* out);

// The dtype's name in the given style ("other" for the rest).
std::string dtype_name(at::ScalarType t, DtypeStyle style);

// Every named parameter ("param") and buffer ("buffer") of m, recursively.
Layout module_layout(const torch::nn::Module& m, DtypeStyle style);

// "[a,b,c]"
std::string shape_str(const std::vector<int64_t>& s);

// The number of keys missing from actual, present with another shape / dtype /
// kind, or unexpected in actual; the first 20 are printed to stderr, each line
// prefixed with "<what>: " (nothing when what is null or empty).
int layout_differences(const Layout& expected, const Layout& actual, const char* what);

// Elements of all parameters of m.
int64_t param_count(const torch::nn::Module& m);

}  // namespace tavce::testing
