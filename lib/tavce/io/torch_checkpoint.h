// Reader for PyTorch checkpoints (torch.save files) without LibTorch, so the
// official SadTalker/TAVCE weights load unchanged:
//   - zip format (torch >= 1.6): an uncompressed zip holding <dir>/data.pkl,
//     one <dir>/data/<key> entry per storage and <dir>/version;
//   - legacy format (torch 0.1.10 - 1.5, or _use_new_zipfile_serialization=False):
//     pickled magic number, protocol version 1001 and sys_info, the main pickle,
//     a pickled list of storage keys, then per key an int64 element count and
//     the raw little-endian elements.
// The file is mapped, not read: tensors are views into it (TensorRef), so a
// 2 GB checkpoint of which a few MB are wanted costs a few MB.
//
// Optimiser state, argparse.Namespace records and complex tensors load beside
// the weights; any other class or function the pickle names is refused with
// an error naming it (the allow-list of pickle.h, the same spirit as
// torch.load(weights_only=True)): a checkpoint from the internet can never
// make this reader run or build anything else. Every malformed input is a
// tavce::Error naming the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tavce/io/byte_source.h"
#include "tavce/io/pickle_value.h"

namespace tavce::io {

class TorchCheckpoint {
 public:
  enum class Format { Zip, Legacy };

  static TorchCheckpoint open(const std::string& path);
  // The same from bytes in memory; `label` names them in errors.
  static TorchCheckpoint parse(ByteSource source, const std::string& label);

  Format format() const { return format_; }
  const std::string& label() const { return label_; }
  // What torch.load would return, as a value tree.
  const Value& root() const { return root_; }
  std::vector<std::string> top_level_keys() const;
  // state_dict_at(root(), key_path, label()). For zip files it also checks
  // the CRC-32 of every storage the returned tensors view, so corrupt weights
  // are an Error; the legacy format has no checksums.
  std::map<std::string, TensorRef> state_dict(const std::string& key_path) const;

 private:
  std::string label_;
  Format format_ = Format::Zip;
  Value root_;
  std::map<std::string, uint32_t> storage_crc_;  // zip: CRC-32 per storage key
};

// The tensors of the state dict at key_path: "" for a root that is itself a
// state dict, "mapping" for root['mapping'], "a.b" for root['a']['b'] (a key
// that itself contains dots is matched whole first). Keys are returned as
// stored (int keys in decimal). Throws tavce::Error naming `label` when the
// path does not exist (listing the keys there), does not lead to a dict, or
// the dict holds something other than tensors.
std::map<std::string, TensorRef> state_dict_at(const Value& root, const std::string& key_path,
                                               const std::string& label);

// The keys of a dict root as text (int keys in decimal); empty if root is not a dict.
std::vector<std::string> top_level_keys(const Value& root);
// "a, b, c" for error messages, at most max_keys of them then "... (N more)".
std::string describe_keys(const Value& dict, size_t max_keys = 40);

}  // namespace tavce::io
