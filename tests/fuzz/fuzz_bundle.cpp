// libFuzzer target: a bundle's model.json (lib/tavce/models/bundle.cpp), as
// read_bundle reads it: JSON text -> bundle_from_json -> the bundle's lookups,
// and back through bundle_to_json, which must accept anything from_json did.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tavce/error.h"
#include "tavce/models/bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // read_bundle reports the JSON parser's error itself
  try {
    const tavce::models::Bundle b = tavce::models::bundle_from_json(j, "fuzz");
    for (const auto& [module, config] : b.architecture.items()) {
      try {
        (void)b.locate(module);
      } catch (const tavce::Error&) {
      }
      (void)config;
    }
    const nlohmann::json again = tavce::models::bundle_to_json(b);
    // What we write we must read back the same.
    const tavce::models::Bundle b2 = tavce::models::bundle_from_json(again, "fuzz (written back)");
    if (tavce::models::bundle_to_json(b2) != again) __builtin_trap();
  } catch (const tavce::Error&) {
  }
  return 0;
}
