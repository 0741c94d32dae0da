// The zip layout of torch.save (torch >= 1.6):
//   <dir>/data.pkl        the pickle; storages are persistent ids by key
//   <dir>/data/<key>      each storage's raw little-endian bytes
//   <dir>/version         format version ("3\n")
//   <dir>/byteorder       "little" or "big" (newer torch only)
// <dir> is the file's stem when it was saved ("archive" when saved to a
// buffer), so data.pkl is found by its place rather than by a fixed name.
#include <cstring>

#include "tavce/error.h"
#include "tavce/io/crc32.h"
#include "tavce/io/pickle.h"
#include "tavce/io/torch_formats.h"
#include "tavce/io/torch_pickle.h"
#include "tavce/io/zip_reader.h"

// Storage bytes are used as they are in the file, which is little-endian.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the torch checkpoint reader assumes a little-endian host"
#endif

namespace tavce::io::torch_detail {
namespace {

// data.pkl at the top level or one folder down; TorchScript archives also
// keep other .pkl files deeper, which are not what torch.load reads.
const ZipEntry& find_data_pkl(const ZipReader& zip) {
  const ZipEntry* found = nullptr;
  for (const ZipEntry& e : zip.entries()) {
    const std::string& n = e.name;
    const bool top = n == "data.pkl";
    const bool one_down = n.size() > 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0 &&
                          n.find('/') == n.size() - 9;
    if (!top && !one_down) continue;
    if (found != nullptr) throw Error(zip.label() + ": several data.pkl entries ('" + found->name + "', '" + n + "')");
    found = &e;
  }
  if (found == nullptr) {
    std::string names;
    for (size_t i = 0; i < zip.entries().size() && i < 10; ++i) names += (i ? ", " : "") + zip.entries()[i].name;
    throw Error(zip.label() + ": zip archive without a data.pkl, so not a torch.save file (entries: " + names + ")");
  }
  return *found;
}

}  // namespace

Value load_zip(const ByteSource& source, const std::string& label, std::map<std::string, uint32_t>* storage_crc) {
  const ZipReader zip(source, label);
  const ZipEntry& pkl = find_data_pkl(zip);
  const std::string dir = pkl.name.substr(0, pkl.name.size() - 8);  // keeps the trailing '/'

  if (const ZipEntry* order = zip.find(dir + "byteorder")) {
    const std::string value(reinterpret_cast<const char*>(zip.data(*order)), order->size);
    if (value != "little")
      throw Error(label + ": the checkpoint was saved " + (value == "big" ? "big-endian" : "with byte order '" + value + "'") +
                  "; only little-endian checkpoints are supported");
  }
  zip.verify_crc(pkl);

  auto bind = [&](StorageRef& s) {
    const std::string name = dir + "data/" + s.key;
    const ZipEntry* e = zip.find(name);
    if (e == nullptr) throw Error("storage '" + s.key + "' has no zip entry '" + name + "'");
    if (e->size != s.nbytes)
      throw Error("zip entry '" + name + "' holds " + std::to_string(e->size) + " bytes but its " + s.type_name +
                  " storage needs " + std::to_string(s.nbytes));
    s.data = zip.data(*e);
    s.bound = true;
    (*storage_crc)[s.key] = e->crc32;
  };
  TorchHooks hooks(TorchHooks::Layout::Zip, label, bind);
  Value root = unpickle(zip.data(pkl), pkl.size, label + " (" + pkl.name + ")", &hooks).value;
  hooks.finish(source.owner);
  return root;
}

}  // namespace tavce::io::torch_detail
