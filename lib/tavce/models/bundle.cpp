#include "tavce/models/bundle.h"

#include <algorithm>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tavce/error.h"
#include "tavce/util/sha256.h"

namespace tavce::models {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Field access that names the field in every error, so a hand-edited
// model.json can be fixed from the message alone.
class Fields {
 public:
  Fields(const json& object, std::string path, std::string label)
      : object_(object), path_(std::move(path)), label_(std::move(label)) {
    if (!object_.is_object()) fail(path_.empty() ? "the top level" : path_, "must be a JSON object");
  }

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw Error(label_ + ": " + field + " " + problem);
  }
  std::string name(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  const json* find(const std::string& key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  const json& required(const std::string& key, json::value_t type, const char* type_name) const {
    const json* v = find(key);
    if (!v) fail(name(key), "is missing");
    const bool number_ok = type == json::value_t::number_float && v->is_number();
    const bool unsigned_ok = type == json::value_t::number_integer && v->is_number_unsigned();
    if (v->type() != type && !number_ok && !unsigned_ok) fail(name(key), std::string("must be ") + type_name);
    return *v;
  }
  std::string string(const std::string& key) const {
    return required(key, json::value_t::string, "a string").get<std::string>();
  }
  std::string string_or(const std::string& key, const std::string& fallback) const {
    return find(key) ? string(key) : fallback;
  }
  int64_t integer(const std::string& key) const {
    return required(key, json::value_t::number_integer, "an integer").get<int64_t>();
  }
  double number(const std::string& key) const {
    return required(key, json::value_t::number_float, "a number").get<double>();
  }
  const json& object(const std::string& key) const {
    return required(key, json::value_t::object, "an object");
  }
  std::string label() const { return label_; }

 private:
  const json& object_;
  std::string path_;
  std::string label_;
};

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  return true;
}

// A weight file name must stay inside the bundle directory.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name != "." && name != ".." && name != kBundleManifestName;
}

AudioFrontend audio_from_json(const Fields& f) {
  AudioFrontend a;
  a.sample_rate = f.integer("sample_rate");
  a.n_fft = f.integer("n_fft");
  a.hop = f.integer("hop");
  a.win = f.integer("win");
  a.n_mels = f.integer("n_mels");
  a.fmin = f.number("fmin");
  a.fmax = f.number("fmax");
  a.preemphasis = f.number("preemphasis");
  a.norm = f.string("norm");
  if (a.sample_rate <= 0 || a.n_fft <= 0 || a.hop <= 0 || a.win <= 0 || a.win > a.n_fft || a.n_mels <= 0)
    f.fail(f.name("{sample_rate,n_fft,hop,win,n_mels}"), "must be positive, with win <= n_fft");
  if (!(a.fmin >= 0 && a.fmax > a.fmin && a.fmax <= a.sample_rate / 2.0))
    f.fail(f.name("{fmin,fmax}"), "must satisfy 0 <= fmin < fmax <= sample_rate / 2");
  return a;
}

BundleFile file_from_json(const Fields& f) {
  BundleFile file;
  file.sha256 = f.string("sha256");
  if (!is_sha256_hex(file.sha256)) f.fail(f.name("sha256"), "must be 64 lowercase hex digits");
  const int64_t bytes = f.integer("bytes");
  if (bytes < 0) f.fail(f.name("bytes"), "must not be negative");
  file.bytes = uint64_t(bytes);
  const json& modules = f.required("modules", json::value_t::array, "an array of module names");
  for (const json& m : modules) {
    if (!m.is_string()) f.fail(f.name("modules"), "must hold strings only");
    file.modules.push_back(m.get<std::string>());
  }
  if (const json* prefixes = f.find("prefixes")) {
    if (!prefixes->is_object()) f.fail(f.name("prefixes"), "must be an object (module -> key prefix)");
    for (auto it = prefixes->begin(); it != prefixes->end(); ++it) {
      if (!it.value().is_string()) f.fail(f.name("prefixes." + it.key()), "must be a string");
      file.prefixes[it.key()] = it.value().get<std::string>();
    }
  }
  return file;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::pair<std::string, std::string> Bundle::locate(const std::string& module) const {
  for (const auto& [file, entry] : files) {
    for (const auto& m : entry.modules) {
      if (m != module) continue;
      auto p = entry.prefixes.find(module);
      return {file, p == entry.prefixes.end() ? std::string() : p->second};
    }
  }
  throw Error("bundle '" + name + "': no weight file holds module '" + module + "'");
}

Bundle bundle_from_json(const json& j, const std::string& label) {
  const Fields top(j, "", label);
  Bundle b;
  const json& version = top.required("schema_version", json::value_t::number_integer, "an integer");
  b.schema_version = version.get<int>();
  if (b.schema_version != kBundleSchemaVersion)
    top.fail("schema_version", std::to_string(b.schema_version) + " is not supported (this build reads " +
                                   std::to_string(kBundleSchemaVersion) + ")");
  b.name = top.string("name");
  if (b.name.empty()) top.fail("name", "must not be empty");
  b.description = top.string_or("description", "");
  b.family = top.string_or("family", "sadtalker");
  if (std::find(known_families().begin(), known_families().end(), b.family) == known_families().end())
    top.fail("family", "'" + b.family + "' is not one of sadtalker, tavce, lite (a newer bundle for a newer build?)");
  b.architecture = top.object("architecture");
  if (b.architecture.empty()) top.fail("architecture", "must name at least one module");
  for (auto it = b.architecture.begin(); it != b.architecture.end(); ++it)
    if (!it.value().is_object()) top.fail("architecture." + it.key(), "must be an object (the module's config)");
  b.coefficient_space = top.string("coefficient_space");
  b.audio_frontend = audio_from_json(Fields(top.object("audio_frontend"), "audio_frontend", label));
  b.fps = top.number("fps");
  if (!(b.fps > 0)) top.fail("fps", "must be positive");
  if (const json* p = top.find("provenance")) {
    if (!p->is_object()) top.fail("provenance", "must be an object");
    b.provenance = *p;
  }
  b.licence = top.string("licence");
  const json& files = top.object("files");
  if (files.empty()) top.fail("files", "must list at least one weight file");
  for (auto it = files.begin(); it != files.end(); ++it) {
    const std::string field = "files.\"" + it.key() + "\"";
    if (!is_plain_file_name(it.key())) top.fail(field, "is not a plain file name inside the bundle");
    BundleFile file = file_from_json(Fields(it.value(), field, label));
    for (const auto& m : file.modules)
      if (!b.architecture.contains(m)) top.fail(field + ".modules", "names '" + m + "', which architecture lacks");
    b.files.emplace(it.key(), std::move(file));
  }
  return b;
}

json bundle_to_json(const Bundle& b) {
  json j;
  j["schema_version"] = b.schema_version;
  j["name"] = b.name;
  j["description"] = b.description;
  j["family"] = b.family;
  j["architecture"] = b.architecture;
  j["coefficient_space"] = b.coefficient_space;
  const AudioFrontend& a = b.audio_frontend;
  j["audio_frontend"] = {{"sample_rate", a.sample_rate}, {"n_fft", a.n_fft}, {"hop", a.hop},
                         {"win", a.win}, {"n_mels", a.n_mels}, {"fmin", a.fmin}, {"fmax", a.fmax},
                         {"preemphasis", a.preemphasis}, {"norm", a.norm}};
  j["fps"] = b.fps;
  j["provenance"] = b.provenance;
  j["licence"] = b.licence;
  json files = json::object();
  for (const auto& [name, f] : b.files) {
    json entry = {{"sha256", f.sha256}, {"bytes", f.bytes}, {"modules", f.modules}};
    if (!f.prefixes.empty()) entry["prefixes"] = f.prefixes;
    files[name] = entry;
  }
  j["files"] = files;
  return j;
}

Bundle read_bundle(const std::string& dir) {
  const fs::path manifest = fs::path(dir) / kBundleManifestName;
  if (!fs::is_directory(dir)) throw Error("model bundle '" + dir + "' is not a directory");
  if (!fs::exists(manifest)) throw Error("model bundle '" + dir + "' has no " + kBundleManifestName);
  json j;
  try {
    j = json::parse(read_text(manifest));
  } catch (const json::exception& e) {
    throw Error(manifest.string() + ": not valid JSON (" + e.what() + ")");
  }
  return bundle_from_json(j, manifest.string());
}

Bundle verify_bundle(const std::string& dir) {
  Bundle b = read_bundle(dir);
  for (const auto& [name, entry] : b.files) {
    const fs::path path = fs::path(dir) / name;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      throw Error("model bundle '" + dir + "': weight file '" + name + "' is missing");
    const uint64_t size = fs::file_size(path, ec);
    if (ec) throw Error("model bundle '" + dir + "': cannot stat '" + name + "': " + ec.message());
    if (size != entry.bytes)
      throw Error("model bundle '" + dir + "': weight file '" + name + "' has " + std::to_string(size) +
                  " bytes, model.json says " + std::to_string(entry.bytes) +
                  (size < entry.bytes ? " (truncated download?)" : ""));
    const std::string digest = util::sha256_file(path.string());
    if (digest != entry.sha256)
      throw Error("model bundle '" + dir + "': weight file '" + name + "' has sha256 " + digest +
                  ", model.json says " + entry.sha256 + " (the file is corrupt or was replaced)");
  }
  for (auto it = b.architecture.begin(); it != b.architecture.end(); ++it) b.locate(it.key());
  return b;
}

void write_bundle(const std::string& dir, const Bundle& bundle) {
  // Round-trip through the reader's checks so a bundle we write is one we can read.
  const json j = bundle_to_json(bundle);
  bundle_from_json(j, "bundle being written to '" + dir + "'");
  const fs::path target = fs::path(dir) / kBundleManifestName;
  const fs::path tmp = fs::path(dir) / (std::string(kBundleManifestName) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write '" + tmp.string() + "'");
    out << j.dump(2) << '\n';
    if (!out.flush()) throw Error("write error on '" + tmp.string() + "'");
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) throw Error("cannot rename '" + tmp.string() + "' to '" + target.string() + "': " + ec.message());
}

BundleFile describe_file(const std::string& dir, const std::string& file, std::vector<std::string> modules,
                         std::map<std::string, std::string> prefixes) {
  const fs::path path = fs::path(dir) / file;
  std::error_code ec;
  BundleFile entry;
  entry.bytes = fs::file_size(path, ec);
  if (ec) throw Error("cannot stat '" + path.string() + "': " + ec.message());
  entry.sha256 = util::sha256_file(path.string());
  entry.modules = std::move(modules);
  entry.prefixes = std::move(prefixes);
  return entry;
}

}  // namespace tavce::models
