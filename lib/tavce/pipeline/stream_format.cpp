#include "tavce/pipeline/stream_format.h"

namespace tavce::pipeline {

StreamFormat stream_format(const models::Bundle& bundle) {
  StreamFormat f;
  bool cerl = bundle.has_module("correlation_audio");
  if (bundle.has_module("generator")) {
    const auto& g = bundle.architecture.at("generator");
    const auto it = g.find("fusion");
    if (it != g.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>())) cerl = true;
  }
  f.gate_dims = cerl ? 128 : 0;
  f.space = bundle.coefficient_space + (cerl ? "+cerl-gate128" : "");
  return f;
}

}  // namespace tavce::pipeline
