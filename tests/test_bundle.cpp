// Check tests for model bundles: SHA-256 (FIPS 180-2 vectors), model.json
// schema checks, verify_bundle on damaged bundles, config JSON round trips,
// and the official-checkpoint converter on fake inputs made from the golden
// weights (full-size ExpNet converts; the reduced KPDetector must be refused
// with the shape mismatches listed) and on full-size fakes of the 512 and
// per-module SadTalker layouts (random weights, keys and shapes from the
// reference's real configs), converted strictly and loaded; the 512 bundle's
// renderer makes a 512x512 frame.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <c10/core/InferenceMode.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"
#include "tavce/io/checkpoint.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/models/arch_configs.h"
#include "tavce/models/bundle.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/models/official_convert.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/correlation.h"
#include "support/layout_check.h"
#include "support/torch_save.h"
#include "tavce/nn/recon_net.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/syncnet.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/util/sha256.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tavce;

namespace {

fs::path golden(const std::string& rel) {
  const char* dir = std::getenv("TAVCE_GOLDEN_DIR");
  return fs::path(dir ? dir : "../shared/golden") / rel;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tavce-test-bundle-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Runs f and returns the tavce::Error message ("" if nothing was thrown).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ck_assert_str_eq keeps a pointer past the full expression, so a c_str() of a
// temporary would dangle: compare owned strings instead.
#define ck_assert_text_eq(a, b)                                                                      \
  do {                                                                                               \
    const std::string a_ = (a), b_ = (b);                                                            \
    ck_assert_msg(a_ == b_, "'%s' != '%s'", a_.c_str(), b_.c_str());                                 \
  } while (0)

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string shape_text(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t d : t.sizes()) out += (out.size() > 1 ? "," : "") + std::to_string(d);
  return out + "]";
}

// Evaluates msg once (it is often an error_of(...) call).
#define ck_assert_error_has(msg, part)                                                                 \
  do {                                                                                                 \
    const std::string got_ = (msg), want_ = (part);                                                    \
    ck_assert_msg(contains(got_, want_), "expected '%s' in '%s'", want_.c_str(), got_.c_str());        \
  } while (0)

// The reduced coeff-73 MappingNet of the golden mapping case.
const nn::MappingNetConfig kSmallMapping = [] {
  nn::MappingNetConfig c;
  c.coeff_nc = 73;
  c.descriptor_nc = 128;
  return c;
}();

// A one-module bundle (mapping.safetensors + model.json) in a new directory.
fs::path make_mapping_bundle(const std::string& name) {
  const fs::path dir = fresh_dir(name);
  nn::MappingNet net(kSmallMapping);
  const auto st = io::SafeTensors::open(golden("mapping/weights_c73.safetensors").string());
  nn::load_state_dict(*net, io::load_tensors(st), "golden mapping c73");
  models::save_tensors((dir / "mapping.safetensors").string(), nn::state_dict(*net));
  models::Bundle b;
  b.name = "small-mapping";
  b.description = "test bundle";
  b.architecture["mapping"] = models::to_json(kSmallMapping);
  b.provenance = {{"source", "golden mapping/weights_c73.safetensors"}};
  b.licence = "test data";
  b.files["mapping.safetensors"] = models::describe_file(dir.string(), "mapping.safetensors", {"mapping"});
  models::write_bundle(dir.string(), b);
  return dir;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

void write_json(const fs::path& p, const json& j) {
  std::ofstream out(p, std::ios::trunc);
  out << j.dump(2);
}

}  // namespace

START_TEST(sha256_fips_vectors) {
  ck_assert_text_eq(util::sha256_hex("abc", 3),
                   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  ck_assert_text_eq(util::sha256_hex(m448.data(), m448.size()),
                   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  ck_assert_text_eq(util::sha256_hex("", 0),
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // One million 'a' fed in uneven pieces, so the block buffering is exercised.
  util::Sha256 h;
  const std::string chunk(997, 'a');
  size_t left = 1000000;
  for (size_t piece = 1; left > 0; piece = piece % 997 + 13) {
    const size_t n = std::min({piece, left, chunk.size()});
    h.update(chunk.data(), n);
    left -= n;
  }
  ck_assert_text_eq(h.final_hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(sha256_file_matches_memory) {
  const fs::path dir = fresh_dir("sha-file");
  std::string data;
  for (int i = 0; i < 3000000; ++i) data += char(i * 7 + (i >> 11));
  { std::ofstream(dir / "blob", std::ios::binary) << data; }
  ck_assert_text_eq(util::sha256_file((dir / "blob").string()), util::sha256_hex(data.data(), data.size()));
  ck_assert_error_has(error_of([&] { util::sha256_file((dir / "absent").string()); }), "absent");
}
END_TEST

START_TEST(bundle_round_trip) {
  const fs::path dir = make_mapping_bundle("round-trip");
  const models::Bundle b = models::verify_bundle(dir.string());
  ck_assert_text_eq(b.name, "small-mapping");
  ck_assert_int_eq(b.schema_version, 1);
  ck_assert_text_eq(b.coefficient_space, "bfm-exp64-pose6");
  ck_assert_int_eq(b.audio_frontend.n_fft, 800);
  ck_assert(b.fps == 25.0);
  ck_assert_int_eq(b.files.at("mapping.safetensors").bytes, fs::file_size(dir / "mapping.safetensors"));
  // The stored config rebuilds the same network and the weights load strictly.
  const auto cfg = nn::MappingNetConfig::from_json(b.architecture.at("mapping"));
  ck_assert_int_eq(cfg.coeff_nc, 73);
  ck_assert_int_eq(cfg.descriptor_nc, 128);
  nn::MappingNet again(cfg);
  models::load_bundle_module(dir.string(), b, "mapping", *again);
  nn::MappingNet ref(kSmallMapping);
  nn::load_state_dict(*ref, io::load_tensors(io::SafeTensors::open(golden("mapping/weights_c73.safetensors").string())),
                      "golden");
  for (const auto& [k, v] : nn::state_dict(*ref)) ck_assert_msg(v.equal(nn::state_dict(*again).at(k)), "%s differs", k.c_str());
  ck_assert_error_has(error_of([&] { b.locate("generator"); }), "generator");
}
END_TEST

START_TEST(verify_detects_damage) {
  {  // a flipped byte in the middle of the weights
    const fs::path dir = make_mapping_bundle("flipped");
    std::fstream f(dir / "mapping.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100000);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(100000);
    f.write(&c, 1);
    f.close();
    const std::string msg = error_of([&] { models::verify_bundle(dir.string()); });
    ck_assert_error_has(msg, "mapping.safetensors");
    ck_assert_error_has(msg, "sha256");
    // read_bundle only checks the schema, so it still succeeds.
    models::read_bundle(dir.string());
  }
  {  // truncated
    const fs::path dir = make_mapping_bundle("truncated");
    const auto size = fs::file_size(dir / "mapping.safetensors");
    fs::resize_file(dir / "mapping.safetensors", size - 1000);
    const std::string msg = error_of([&] { models::verify_bundle(dir.string()); });
    ck_assert_error_has(msg, "mapping.safetensors");
    ck_assert_error_has(msg, "truncated");
  }
  {  // missing weight file, missing model.json, not a directory
    const fs::path dir = make_mapping_bundle("missing");
    fs::remove(dir / "mapping.safetensors");
    ck_assert_error_has(error_of([&] { models::verify_bundle(dir.string()); }), "'mapping.safetensors' is missing");
    fs::remove(dir / "model.json");
    ck_assert_error_has(error_of([&] { models::read_bundle(dir.string()); }), "has no model.json");
    ck_assert_error_has(error_of([&] { models::read_bundle((dir / "nope").string()); }), "not a directory");
  }
}
END_TEST

START_TEST(bad_model_json) {
  const fs::path dir = make_mapping_bundle("bad-json");
  const json good = read_json(dir / "model.json");
  // Each edit must be refused with a message naming the field.
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& j) { j.erase("schema_version"); }, "schema_version is missing"},
      {[](json& j) { j["schema_version"] = "1"; }, "schema_version must be an integer"},
      {[](json& j) { j["schema_version"] = 2; }, "schema_version 2 is not supported"},
      {[](json& j) { j["name"] = 5; }, "name must be a string"},
      {[](json& j) { j["fps"] = "25"; }, "fps must be a number"},
      {[](json& j) { j["architecture"] = json::object(); }, "architecture must name at least one module"},
      {[](json& j) { j["audio_frontend"].erase("n_mels"); }, "audio_frontend.n_mels is missing"},
      {[](json& j) { j["audio_frontend"]["fmax"] = 9000.0; }, "audio_frontend.{fmin,fmax}"},
      {[](json& j) { j["files"]["mapping.safetensors"]["sha256"] = "abc"; }, "files.\"mapping.safetensors\".sha256"},
      {[](json& j) { j["files"]["mapping.safetensors"]["bytes"] = -1; }, "files.\"mapping.safetensors\".bytes"},
      {[](json& j) { j["files"]["mapping.safetensors"]["modules"] = json::array({"generator"}); },
       "names 'generator', which architecture lacks"},
      {[](json& j) { j["files"]["../x.safetensors"] = j["files"]["mapping.safetensors"]; }, "not a plain file name"},
      {[](json& j) { j["licence"] = nullptr; }, "licence must be a string"},
  };
  for (const auto& [edit, expected] : cases) {
    json j = good;
    edit(j);
    write_json(dir / "model.json", j);
    ck_assert_error_has(error_of([&] { models::read_bundle(dir.string()); }), expected);
  }
  { std::ofstream(dir / "model.json", std::ios::trunc) << "{\"schema_version\": 1,"; }
  ck_assert_error_has(error_of([&] { models::read_bundle(dir.string()); }), "not valid JSON");
  // A module listed in architecture but stored in no file.
  json j = good;
  j["architecture"]["expnet"] = models::to_json(nn::ExpNetConfig{});
  write_json(dir / "model.json", j);
  ck_assert_error_has(error_of([&] { models::verify_bundle(dir.string()); }), "no weight file holds module 'expnet'");
}
END_TEST

START_TEST(config_json_round_trips) {
  // from_json(to_json(c)) must describe the same network: compare the JSON again.
  const auto same = [](const json& a, const json& b) { ck_assert_text_eq(a.dump(), b.dump()); };
  same(models::to_json(nn::ExpNetConfig::from_json(models::to_json(nn::ExpNetConfig{}))), models::to_json(nn::ExpNetConfig{}));
  nn::PoseVAEConfig pose;
  pose.training_parts = true;  // not read by from_json, whose default is true
  same(models::to_json(nn::PoseVAEConfig::from_json(models::to_json(pose))), models::to_json(pose));
  same(models::to_json(nn::MappingNetConfig::from_json(models::to_json(kSmallMapping))), models::to_json(kSmallMapping));
  nn::KPDetectorConfig kp;
  kp.block_expansion = 8;
  kp.temperature = 0.25;
  same(models::to_json(nn::KPDetectorConfig::from_json(models::to_json(kp))), models::to_json(kp));
  for (const auto& gen : {nn::SpadeGeneratorConfig::sadtalker(), nn::SpadeGeneratorConfig::tavce()})
    same(models::to_json(nn::SpadeGeneratorConfig::from_json(models::to_json(gen))), models::to_json(gen));
  same(models::to_json(nn::ReconNetConfig::from_json(models::to_json(nn::ReconNetConfig{}))),
       models::to_json(nn::ReconNetConfig{}));
}
END_TEST

namespace {

// A fake SadTalker_V0.0.2_256.safetensors: golden weights (as stored, float16)
// under the given prefixes.
void write_fake_sadtalker(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& parts) {
  nn::TensorMap all;
  for (const auto& [prefix, weights] : parts)
    for (const auto& [k, v] : io::load_tensors(io::SafeTensors::open(golden(weights).string()), false))
      all.emplace(prefix + k, v);
  models::save_tensors((dir / "SadTalker_V0.0.2_256.safetensors").string(), all);
}

}  // namespace

START_TEST(convert_fake_official) {
  const fs::path in = fresh_dir("convert-in");
  // The golden ExpNet weights are full size, so they convert.
  write_fake_sadtalker(in, {{"audio2exp.", "audio2exp/weights.safetensors"}});
  std::ostringstream log;
  models::ConvertOptions opt;
  opt.in_dir = in.string();
  opt.out_dir = (fresh_dir("convert-out") / "st").string();
  opt.variant = "sadtalker";
  // Without --partial the absent modules are an error naming them.
  const std::string missing = error_of([&] { models::convert_official(opt, log); });
  ck_assert_error_has(missing, "kp_detector");
  ck_assert_error_has(missing, "mapping_full");
  ck_assert_error_has(missing, "--partial");

  opt.partial = true;
  const models::Bundle b = models::convert_official(opt, log);
  ck_assert_text_eq(b.name, "st");
  ck_assert(b.has_module("expnet"));
  ck_assert(!b.has_module("generator"));
  ck_assert_error_has(log.str(), "sha256 " + util::sha256_file((in / "SadTalker_V0.0.2_256.safetensors").string()));
  ck_assert_text_eq(b.provenance.at("inputs").at(0).at("file").get<std::string>(),
                   "SadTalker_V0.0.2_256.safetensors");
  // The converted weights equal the golden ones upcast to float32.
  nn::ExpNet net(nn::ExpNetConfig::from_json(b.architecture.at("expnet")));
  models::load_bundle_module(opt.out_dir, b, "expnet", *net);
  const auto ref = io::load_tensors(io::SafeTensors::open(golden("audio2exp/weights.safetensors").string()));
  for (const auto& [k, v] : nn::state_dict(*net)) ck_assert_msg(v.equal(ref.at(k)), "%s differs", k.c_str());
  // Converting into an existing bundle is refused.
  ck_assert_error_has(error_of([&] { models::convert_official(opt, log); }), "already holds a model bundle");
}
END_TEST

START_TEST(convert_refuses_wrong_shapes) {
  const fs::path in = fresh_dir("convert-bad-in");
  // The golden KPDetector is a reduced config: loading it at full size must
  // fail and list the mismatched shapes, not produce a bundle.
  write_fake_sadtalker(in, {{"kp_extractor.", "kp_detector/weights.safetensors"}});
  std::ostringstream log;
  models::ConvertOptions opt;
  opt.in_dir = in.string();
  opt.out_dir = (fresh_dir("convert-bad-out") / "kp").string();
  opt.partial = true;
  const std::string msg = error_of([&] { models::convert_official(opt, log); });
  ck_assert_error_has(msg, "SadTalker_V0.0.2_256.safetensors [kp_extractor.]");
  ck_assert_error_has(msg, "shape mismatches");
  ck_assert(!fs::exists(fs::path(opt.out_dir) / "model.json"));

  // Keys outside the five official prefixes mean a different file.
  write_fake_sadtalker(in, {{"he_estimator.", "mapping/weights_c73.safetensors"}});
  opt.out_dir = (fresh_dir("convert-bad-out2") / "x").string();
  ck_assert_error_has(error_of([&] { models::convert_official(opt, log); }), "keys outside the prefixes");
  // An empty input directory.
  opt.in_dir = fresh_dir("convert-empty").string();
  ck_assert_error_has(error_of([&] { models::convert_official(opt, log); }), "no official sadtalker (256 layout) checkpoint found");
}
END_TEST

// --variant tavce on fake TAVCE release files (torch.save zip pickles written
// by tests/support/torch_save) holding the golden weights: the audio
// networks are full size, so they convert; the DataParallel `module.`
// prefixes are stripped, audio2pose's two dict entries are merged under
// their prefixes, and each converted module equals the golden weights.
START_TEST(convert_tavce_variant) {
  const fs::path in = fresh_dir("convert-tavce-in");
  fs::create_directories(in / "exp/audio2exp");
  fs::create_directories(in / "exp/audio2pose");
  fs::create_directories(in / "exp/correlation");
  const auto golden_map = [](const char* file) {
    return io::load_tensors(io::SafeTensors::open(golden(file).string()), true);
  };
  nn::TensorMap exp_dp;  // as saved from a DataParallel model
  for (const auto& [k, v] : golden_map("audio2exp/weights.safetensors")) exp_dp.emplace("module." + k, v);
  testing::write_torch_checkpoint((in / "exp/audio2exp/latest.pth").string(), {{"netG", exp_dp}});
  nn::TensorMap net_g, audio_encoder;
  for (const auto& [k, v] : golden_map("audio2pose/weights.safetensors")) {
    if (k.rfind("netG.", 0) == 0) net_g.emplace(k.substr(5), v);
    else if (k.rfind("audio_encoder.", 0) == 0) audio_encoder.emplace(k.substr(14), v);
    else ck_abort_msg("unexpected golden audio2pose key %s", k.c_str());
  }
  testing::write_torch_checkpoint((in / "exp/audio2pose/latest.pth").string(),
                                  {{"netG", net_g}, {"audio_encoder", audio_encoder}});
  testing::write_torch_checkpoint((in / "exp/correlation/last.pth").string(),
                                  {{"audio_encoder", golden_map("correlation/weights.safetensors")}});

  std::ostringstream log;
  models::ConvertOptions opt;
  opt.in_dir = in.string();
  opt.out_dir = (fresh_dir("convert-tavce-out") / "tv").string();
  opt.variant = "tavce";
  // exp/facerender/latest.pth is absent: an error naming the renderer modules...
  const std::string missing = error_of([&] { models::convert_official(opt, log); });
  ck_assert_error_has(missing, "generator");
  ck_assert_error_has(missing, "--partial");
  // ...unless partial.
  opt.partial = true;
  const models::Bundle b = models::convert_official(opt, log);
  ck_assert(b.has_module("expnet") && b.has_module("pose_vae") && b.has_module("correlation_audio"));
  ck_assert(!b.has_module("generator"));
  ck_assert(!b.architecture.at("pose_vae").value("training_parts", true));

  nn::ExpNet exp(nn::ExpNetConfig::from_json(b.architecture.at("expnet")));
  models::load_bundle_module(opt.out_dir, b, "expnet", *exp);
  const auto exp_ref = golden_map("audio2exp/weights.safetensors");
  for (const auto& [k, v] : nn::state_dict(*exp)) ck_assert_msg(v.equal(exp_ref.at(k)), "expnet %s differs", k.c_str());

  nn::PoseVAEConfig pcfg = nn::PoseVAEConfig::from_json(b.architecture.at("pose_vae"));
  pcfg.training_parts = false;
  nn::PoseVAE pose(pcfg);
  models::load_bundle_module(opt.out_dir, b, "pose_vae", *pose);
  const auto pose_ref = golden_map("audio2pose/weights.safetensors");
  for (const auto& [k, v] : nn::state_dict(*pose)) ck_assert_msg(v.equal(pose_ref.at(k)), "pose_vae %s differs", k.c_str());

  nn::CorrelationAudioEncoder corr(
      nn::CorrelationAudioEncoderConfig::from_json(b.architecture.at("correlation_audio")));
  models::load_bundle_module(opt.out_dir, b, "correlation_audio", *corr);
  const auto corr_ref = nn::strip_data_parallel(golden_map("correlation/weights.safetensors"));
  for (const auto& [k, v] : nn::state_dict(*corr))
    ck_assert_msg(v.equal(corr_ref.at(k)), "correlation_audio %s differs", k.c_str());
}
END_TEST

// syncnet_v2.model (a bare state dict at the pickle root, written here with
// the golden SyncNet weights, without the BatchNorm counters of later torch) converts on its own into a SyncNet-only bundle
// for tavcesyncscore, with syncnet_v2's sizes and the weights unchanged.
START_TEST(convert_syncnet_v2) {
  const fs::path in = fresh_dir("convert-syncnet-in");
  const nn::TensorMap ref = io::load_tensors(io::SafeTensors::open(golden("syncnet/weights.safetensors").string()), true);
  // As saved by torch < 0.4.1: no BatchNorm num_batches_tracked (torch's loader fills in 0).
  nn::TensorMap old_layout;
  for (const auto& [k, v] : ref)
    if (k.find("num_batches_tracked") == std::string::npos) old_layout.emplace(k, v);
  ck_assert_uint_lt(old_layout.size(), ref.size());
  testing::write_torch_state_dict((in / "syncnet_v2.model").string(), old_layout);
  std::ostringstream log;
  models::ConvertOptions opt;
  opt.in_dir = in.string();
  opt.out_dir = (fresh_dir("convert-syncnet-out") / "sn").string();
  const models::Bundle b = models::convert_official(opt, log);  // no --partial needed
  ck_assert_uint_eq(b.architecture.size(), 1);
  ck_assert(b.has_module("syncnet"));
  const nn::SyncNetConfig cfg = nn::SyncNetConfig::from_json(b.architecture.at("syncnet"));
  ck_assert_int_eq(cfg.num_layers_in_fc_layers, 1024);
  ck_assert(cfg.lip_region == std::vector<int64_t>({0, 0, 224, 224}));
  nn::SyncNet net(cfg);
  models::load_bundle_module(opt.out_dir, b, "syncnet", *net);
  for (const auto& [k, v] : nn::state_dict(*net)) {
    if (k.find("num_batches_tracked") != std::string::npos) ck_assert_int_eq(v.item<int64_t>(), 0);
    else ck_assert_msg(v.equal(ref.at(k)), "syncnet %s differs", k.c_str());
  }
  const std::string source = b.provenance.at("module_sources").at("syncnet").get<std::string>();
  ck_assert_str_eq(source.c_str(), "syncnet_v2.model");
}
END_TEST

// Layout choice and reporting on small fakes: with both safetensors present
// the 256 one is read and the 512 one reported as skipped; --layout 512 reads
// the other; --partial names every module not converted and why; bad
// --layout values are refused.
START_TEST(convert_layout_choice) {
  const fs::path in = fresh_dir("convert-layouts-in");
  write_fake_sadtalker(in, {{"audio2exp.", "audio2exp/weights.safetensors"}});
  // The 512 file: the same golden ExpNet, every value doubled, so the source is visible in the weights.
  nn::TensorMap doubled;
  for (const auto& [k, v] : io::load_tensors(io::SafeTensors::open(golden("audio2exp/weights.safetensors").string()), true))
    doubled.emplace("audio2exp." + k, v * 2);
  models::save_tensors((in / "SadTalker_V0.0.2_512.safetensors").string(), doubled);
  { std::ofstream(in / "wav2lip.pth") << "not read"; }
  const auto ref = io::load_tensors(io::SafeTensors::open(golden("audio2exp/weights.safetensors").string()));

  models::ConvertOptions opt;
  opt.in_dir = in.string();
  opt.partial = true;
  {
    std::ostringstream log;
    opt.out_dir = (fresh_dir("convert-layouts-out") / "default").string();
    const models::Bundle b = models::convert_official(opt, log);
    ck_assert_error_has(log.str(), "layout: 256 (SadTalker_V0.0.2_256.safetensors");
    ck_assert_error_has(log.str(), "skipped SadTalker_V0.0.2_512.safetensors: part of the 512 layout");
    ck_assert_error_has(log.str(), "skipped wav2lip.pth: wav2lip's weights only initialise");
    ck_assert_error_has(log.str(), "not converted kp_detector: SadTalker_V0.0.2_256.safetensors has no 'kp_extractor.' keys");
    ck_assert_error_has(log.str(), "not converted mapping_full: mapping_00109-model.pth.tar not found");
    ck_assert_text_eq(b.provenance.at("layout").get<std::string>(), "256");
    ck_assert_uint_eq(b.provenance.at("not_converted").size(), 6);  // kp, generator, pose, recon, mapping x2
    ck_assert_uint_eq(b.provenance.at("skipped").size(), 2);
    const auto got = io::load_tensors(io::SafeTensors::open(opt.out_dir + "/expnet.safetensors"));
    for (const auto& [k, v] : got) ck_assert_msg(v.equal(ref.at(k)), "expnet %s is not the 256 file's", k.c_str());
  }
  {
    std::ostringstream log;
    opt.layout = "512";
    opt.out_dir = (fresh_dir("convert-layouts-out") / "512").string();
    const models::Bundle b = models::convert_official(opt, log);
    ck_assert_error_has(log.str(), "skipped SadTalker_V0.0.2_256.safetensors: part of the 256 layout");
    ck_assert_text_eq(b.provenance.at("inputs").at(0).at("file").get<std::string>(), "SadTalker_V0.0.2_512.safetensors");
    const auto got = io::load_tensors(io::SafeTensors::open(opt.out_dir + "/expnet.safetensors"));
    for (const auto& [k, v] : got) ck_assert_msg(v.equal(ref.at(k) * 2), "expnet %s is not the 512 file's", k.c_str());
  }
  std::ostringstream log;
  opt.out_dir = (fresh_dir("convert-layouts-out") / "bad").string();
  opt.layout = "1024";
  ck_assert_error_has(error_of([&] { models::convert_official(opt, log); }), "unknown layout '1024'");
  opt.layout = "256";
  opt.variant = "tavce";
  ck_assert_error_has(error_of([&] { models::convert_official(opt, log); }), "does not apply to --variant tavce");
  // Without --partial every missing module is named with its reason.
  opt.variant = "";
  opt.partial = false;
  const std::string msg = error_of([&] { models::convert_official(opt, log); });
  ck_assert_error_has(msg, "lack 6 module(s)");
  ck_assert_error_has(msg, "mapping: mapping_00229-model.pth.tar not found");
}
END_TEST

namespace {

// One row of an official container's layout: key, shape, dtype ("F32"/"I64").
struct LayoutRow {
  std::string key;
  std::vector<int64_t> shape;
  std::string dtype;
};

// The rows of golden/shapes_render.json's container whose key starts with
// prefix, prefix removed. That table was made by instantiating the
// reference's modules with the real configs, so it is the official layout.
std::vector<LayoutRow> official_rows(const std::string& container, const std::string& prefix) {
  const json all = read_json(golden("shapes_render.json"));
  std::vector<LayoutRow> out;
  for (const auto& row : all.at("containers").at(container).at("rows")) {
    const std::string key = row.at(0);
    if (key.rfind(prefix, 0) == 0)
      out.push_back({key.substr(prefix.size()), row.at(1).get<std::vector<int64_t>>(), row.at(2).get<std::string>()});
  }
  ck_assert_msg(!out.empty(), "no %s rows in %s", prefix.c_str(), container.c_str());
  return out;
}

// The he_estimator entry of facevid2vid_00189-model.pth.tar, from
// docs/state_dict_keys.tsv (shapes_render.json does not cover it).
std::vector<LayoutRow> he_estimator_rows() {
  tavce::testing::Layout layout;
  ck_assert_msg(tavce::testing::layout_from_keys_tsv(golden("../docs/state_dict_keys.tsv"), "['he_estimator']",
                                                     tavce::testing::DtypeStyle::kSafetensors, &layout),
                "cannot use state_dict_keys.tsv beside the golden directory (see stderr)");
  std::vector<LayoutRow> out;
  for (const auto& [key, row] : layout) out.push_back({key, std::get<0>(row), std::get<1>(row)});
  ck_assert_uint_eq(out.size(), 402);
  return out;
}

// Random weights of the given layout: small symmetric values (so a forward
// pass stays finite), BatchNorm variances near 1, integer counters.
nn::TensorMap fake_weights(const std::vector<LayoutRow>& rows, const std::string& key_prefix = "") {
  nn::TensorMap out;
  for (const auto& r : rows) {
    at::Tensor t;
    if (r.dtype == "I64") t = at::full(r.shape, 1000, at::kLong);
    else if (r.key.size() > 12 && r.key.compare(r.key.size() - 12, 12, ".running_var") == 0) t = at::rand(r.shape) * 0.2 + 0.9;
    else t = (at::rand(r.shape) - 0.5) * 0.1;
    out.emplace(key_prefix + r.key, t);
  }
  // Spectral-norm layers (weight_orig, weight_u, weight_v): u and v as the
  // power iteration leaves them (unit vectors, u = W v / |W v|), so sigma = u.W v
  // is W's largest singular value estimate, not a random number near zero.
  const std::string orig = ".weight_orig";
  for (auto& [key, w] : out) {
    if (key.size() <= orig.size() || key.compare(key.size() - orig.size(), orig.size(), orig) != 0) continue;
    const std::string stem = key.substr(0, key.size() - 5);  // "X.weight"
    const at::Tensor mat = w.reshape({w.size(0), -1});
    const at::Tensor v = at::randn({mat.size(1)});
    const at::Tensor wv = at::mv(mat, v / v.norm());
    out.at(stem + "_v") = v / v.norm();
    out.at(stem + "_u") = wv / wv.norm();
  }
  return out;
}

// The mapping files of every layout: 'mapping' plus the training state the
// reference's load_cpk_mapping also reads.
void write_fake_mapping_files(const fs::path& in) {
  const nn::TensorMap disc = {{"fc.weight", at::ones({2, 2})}};
  testing::write_torch_checkpoint((in / "mapping_00229-model.pth.tar").string(),
                                  {{"mapping", fake_weights(official_rows("mapping_00229-model.pth.tar['mapping']", ""))},
                                   {"discriminator", disc}},
                                  {{"epoch", 229}});
  testing::write_torch_checkpoint((in / "mapping_00109-model.pth.tar").string(),
                                  {{"mapping", fake_weights(official_rows("mapping_00109-model.pth.tar['mapping']", ""))},
                                   {"discriminator", disc}},
                                  {{"epoch", 109}});
}

// The bundle's weight file of `module` holds exactly the official layout's
// keys and shapes (independent truth: the rows) and the input's values.
// A spectral-norm layer's X.weight_orig / _u / _v become X.weight =
// weight_orig / (u . W v), what torch computes in eval mode.
void check_converted(const fs::path& bundle_dir, const std::string& module, const std::vector<LayoutRow>& rows,
                     const nn::TensorMap& input) {
  const auto got = io::load_tensors(io::SafeTensors::open((bundle_dir / (module + ".safetensors")).string()));
  const auto ends = [](const std::string& k, const std::string& suffix) {
    return k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  size_t expected = 0;
  for (const auto& r : rows) {
    if (ends(r.key, ".weight_u") || ends(r.key, ".weight_v")) continue;
    ++expected;
    const bool sn = ends(r.key, ".weight_orig");
    const std::string key = sn ? r.key.substr(0, r.key.size() - 5) : r.key;
    const auto it = got.find(key);
    ck_assert_msg(it != got.end(), "%s lacks %s", module.c_str(), key.c_str());
    ck_assert_msg(it->second.sizes().vec() == r.shape, "%s %s has another shape", module.c_str(), key.c_str());
    const at::Tensor& in = input.at(r.key);
    if (sn) {
      const at::Tensor sigma =
          at::dot(input.at(key + "_u"), at::mv(in.reshape({in.size(0), -1}), input.at(key + "_v")));
      ck_assert_msg(it->second.allclose(in / sigma, 1e-5, 1e-7), "%s %s is not weight_orig / sigma", module.c_str(),
                    key.c_str());
    } else {
      ck_assert_msg(it->second.to(in.scalar_type()).equal(in), "%s %s differs from the input", module.c_str(),
                    key.c_str());
    }
  }
  ck_assert_msg(got.size() == expected, "%s: %zu tensors, the official layout has %zu", module.c_str(), got.size(),
                expected);
}

}  // namespace

// SadTalker_V0.0.2_512.safetensors (SadTalker's --size 512), full size with
// random weights: detected alone, converted strictly (every official key,
// nothing else, shapes and values kept), recorded as a 512x512 renderer, and
// the renderer's networks loaded from the bundle as the elements load them
// make a 512x512 frame (one frame: about 4x the 256 renderer's cost).
START_TEST(convert_sadtalker_512) {
  const fs::path in = fresh_dir("convert-512-in");
  const std::string st = "SadTalker_V0.0.2_256.safetensors";
  at::manual_seed(512);
  models::save_tensors((in / "SadTalker_V0.0.2_512.safetensors").string(), fake_weights(official_rows(st, "")));
  write_fake_mapping_files(in);

  std::ostringstream log;
  models::ConvertOptions opt;
  opt.in_dir = in.string();
  opt.out_dir = (fresh_dir("convert-512-out") / "sadtalker-512").string();
  const models::Bundle b = models::convert_official(opt, log);  // strict: no --partial
  ck_assert_error_has(log.str(), "layout: 512 (SadTalker_V0.0.2_512.safetensors");
  ck_assert_uint_eq(b.architecture.size(), 7);
  ck_assert_int_eq(b.architecture.at("generator").at("image_size").get<int>(), 512);
  ck_assert_text_eq(b.provenance.at("layout").get<std::string>(), "512");
  ck_assert_uint_eq(b.provenance.at("not_converted").size(), 0);

  {  // scoped: the input's 725 MB are freed before the render
    const nn::TensorMap input =
        io::load_tensors(io::SafeTensors::open((in / "SadTalker_V0.0.2_512.safetensors").string()));
    const std::pair<const char*, const char*> prefixes[] = {{"kp_extractor.", "kp_detector"},
                                                            {"generator.", "generator"},
                                                            {"audio2exp.", "expnet"},
                                                            {"audio2pose.", "pose_vae"},
                                                            {"face_3drecon.", "recon"}};
    for (const auto& [prefix, module] : prefixes)
      check_converted(opt.out_dir, module, official_rows(st, prefix), nn::select_prefix(input, prefix));
  }
  check_converted(opt.out_dir, "mapping", official_rows("mapping_00229-model.pth.tar['mapping']", ""),
                  io::load_torch_state_dict((in / "mapping_00229-model.pth.tar").string(), "mapping"));

  // As tavcerenderer loads it: the renderer side is 512, and one frame is 512x512.
  const auto loaded = pipeline::LoadedBundle::get(opt.out_dir, "cpu");
  ck_assert_int_eq(loaded->image_size(), 512);
  c10::InferenceMode guard;
  const at::Tensor image = at::rand({1, 3, 512, 512});
  const at::Tensor kp = loaded->kp_detector()->forward(image);
  ck_assert(kp.sizes().vec() == std::vector<int64_t>({1, 15, 3}));
  const at::Tensor frame = loaded->generator()->forward(image, kp, kp).prediction;
  ck_assert_msg(frame.sizes().vec() == std::vector<int64_t>({1, 3, 512, 512}), "frame is %s",
                shape_text(frame).c_str());
  ck_assert(at::isfinite(frame).all().item<bool>());
}
END_TEST

// The older per-module set (SadTalker's --old_version): full-size torch.save
// files with the official dict entries and random weights, detected when no
// safetensors is present, converted strictly; he_estimator, the
// discriminators and the epochs are reported as skipped.
START_TEST(convert_sadtalker_per_module) {
  const fs::path in = fresh_dir("convert-old-in");
  const std::string st = "SadTalker_V0.0.2_256.safetensors";
  at::manual_seed(140);
  testing::write_torch_checkpoint((in / "auido2exp_00300-model.pth").string(),
                                  {{"model", fake_weights(official_rows(st, "audio2exp."))}}, {{"epoch", 300}});
  testing::write_torch_checkpoint((in / "auido2pose_00140-model.pth").string(),
                                  {{"model", fake_weights(official_rows(st, "audio2pose."))}}, {{"epoch", 140}});
  testing::write_torch_checkpoint((in / "facevid2vid_00189-model.pth.tar").string(),
                                  {{"generator", fake_weights(official_rows(st, "generator."))},
                                   {"kp_detector", fake_weights(official_rows(st, "kp_extractor."))},
                                   {"he_estimator", fake_weights(he_estimator_rows())},
                                   {"discriminator", {{"fc.weight", at::ones({2, 2})}}}},
                                  {{"epoch", 189}});
  testing::write_torch_checkpoint((in / "epoch_20.pth").string(),
                                  {{"net_recon", fake_weights(official_rows(st, "face_3drecon."))}}, {{"epoch", 20}});
  write_fake_mapping_files(in);
  { std::ofstream(in / "wav2lip.pth") << "not read"; }

  std::ostringstream log;
  models::ConvertOptions opt;
  opt.in_dir = in.string();
  opt.out_dir = (fresh_dir("convert-old-out") / "sadtalker-old").string();
  const models::Bundle b = models::convert_official(opt, log);  // strict: no --partial
  ck_assert_error_has(log.str(), "layout: per-module");
  ck_assert_error_has(log.str(), "skipped facevid2vid_00189-model.pth.tar ['he_estimator']: the head-pose estimator");
  ck_assert_error_has(log.str(), "skipped facevid2vid_00189-model.pth.tar ['discriminator']: a discriminator");
  ck_assert_error_has(log.str(), "skipped auido2exp_00300-model.pth ['epoch']: the training epoch");
  ck_assert_error_has(log.str(), "skipped wav2lip.pth:");
  ck_assert_uint_eq(b.architecture.size(), 7);
  ck_assert_int_eq(b.architecture.at("generator").at("image_size").get<int>(), 256);
  ck_assert_text_eq(b.provenance.at("layout").get<std::string>(), "per-module");
  ck_assert_text_eq(b.provenance.at("module_sources").at("generator").get<std::string>(),
                    "facevid2vid_00189-model.pth.tar ['generator']");
  // 6 epochs + 3 discriminators + he_estimator + wav2lip.pth
  ck_assert_uint_eq(b.provenance.at("skipped").size(), 11);

  const auto entry = [&](const char* file, const char* key) {
    return io::load_torch_state_dict((in / file).string(), key);
  };
  check_converted(opt.out_dir, "expnet", official_rows(st, "audio2exp."), entry("auido2exp_00300-model.pth", "model"));
  check_converted(opt.out_dir, "pose_vae", official_rows(st, "audio2pose."), entry("auido2pose_00140-model.pth", "model"));
  check_converted(opt.out_dir, "generator", official_rows(st, "generator."),
                  entry("facevid2vid_00189-model.pth.tar", "generator"));
  check_converted(opt.out_dir, "kp_detector", official_rows(st, "kp_extractor."),
                  entry("facevid2vid_00189-model.pth.tar", "kp_detector"));
  check_converted(opt.out_dir, "recon", official_rows(st, "face_3drecon."), entry("epoch_20.pth", "net_recon"));
  check_converted(opt.out_dir, "mapping_full", official_rows("mapping_00109-model.pth.tar['mapping']", ""),
                  entry("mapping_00109-model.pth.tar", "mapping"));
  // Every module loads strictly from the bundle into the network its config describes.
  const auto loaded = pipeline::LoadedBundle::get(opt.out_dir, "cpu");
  ck_assert_int_eq(loaded->image_size(), 256);
  loaded->expnet();
  loaded->pose_vae();
  loaded->mapping();
  loaded->mapping_full();
  loaded->kp_detector();
  loaded->generator();
  loaded->recon();
}
END_TEST

int main() {
  Suite* s = suite_create("bundle");
  TCase* tc = tcase_create("bundle");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, sha256_fips_vectors);
  tcase_add_test(tc, sha256_file_matches_memory);
  tcase_add_test(tc, bundle_round_trip);
  tcase_add_test(tc, verify_detects_damage);
  tcase_add_test(tc, bad_model_json);
  tcase_add_test(tc, config_json_round_trips);
  tcase_add_test(tc, convert_fake_official);
  tcase_add_test(tc, convert_tavce_variant);
  tcase_add_test(tc, convert_syncnet_v2);
  tcase_add_test(tc, convert_refuses_wrong_shapes);
  tcase_add_test(tc, convert_layout_choice);
  tcase_add_test(tc, convert_sadtalker_512);
  tcase_add_test(tc, convert_sadtalker_per_module);
  suite_add_tcase(s, tc);
  SRunner* sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  fs::remove_all(fs::temp_directory_path() / ("tavce-test-bundle-" + std::to_string(::getpid())));
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
