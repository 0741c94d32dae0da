// Whole-tree checks and teardown for unpickled values. Both walk the tree
// with explicit stacks: the trees come from untrusted files and may be deep
// or cyclic, and recursion (including that of nested shared_ptr destructors)
// would overflow the C++ stack.
#include <algorithm>
#include <iterator>
#include <unordered_map>
#include <unordered_set>

#include "tavce/error.h"
#include "tavce/io/pickle.h"
#include "tavce/io/pickle_internal.h"

namespace tavce::io::pickle_detail {
namespace {

void collect_children(const Value& v, std::vector<Value>& out) {
  switch (v.kind()) {
    case Value::Kind::List:
    case Value::Kind::Tuple:
      for (const Value& item : v.items()) out.push_back(item);
      break;
    case Value::Kind::Dict:
      for (const auto& [k, x] : v.as_dict().items()) {
        out.push_back(k);
        out.push_back(x);
      }
      break;
    case Value::Kind::Object: {
      const Object& o = v.as_object();
      out.push_back(o.args);
      out.push_back(o.state);
      for (const Value& item : o.list_items) out.push_back(item);
      for (const auto& [k, x] : o.dict_items.items()) {
        out.push_back(k);
        out.push_back(x);
      }
      break;
    }
    default: break;
  }
}

}  // namespace

std::unordered_set<const void*> check_tree(const Value& root) {
  std::unordered_set<const void*> reachable;
  if (!root.is_container()) return reachable;
  constexpr int kOnPath = -1;
  std::unordered_map<const void*, int> depth;  // finished containers -> depth; kOnPath while open
  struct Frame {
    Value value;
    std::vector<Value> children;
    size_t next = 0;
    int deepest_child = 0;
  };
  std::vector<Frame> path;
  auto open = [&](const Value& v) {
    if (v.is(Value::Kind::Object) && v.as_object().is_class_ref)
      throw Error("the loaded value keeps a bare reference: " + not_allowed(v.as_object().qualified_name()));
    if (path.size() >= kMaxPickleDepth)
      throw Error("containers nested more than " + std::to_string(kMaxPickleDepth) + " deep");
    depth[v.node()] = kOnPath;
    Frame f;
    f.value = v;
    collect_children(v, f.children);
    path.push_back(std::move(f));
  };
  open(root);
  while (!path.empty()) {
    Frame& f = path.back();
    if (f.next < f.children.size()) {
      const Value child = f.children[f.next++];
      if (!child.is_container()) continue;
      auto it = depth.find(child.node());
      if (it == depth.end()) {
        open(child);  // invalidates f
      } else if (it->second == kOnPath) {
        throw Error("a " + child.type_name() + " contains itself (reference cycle)");
      } else {
        f.deepest_child = std::max(f.deepest_child, it->second);
      }
      continue;
    }
    const int d = f.deepest_child + 1;
    depth[f.value.node()] = d;
    path.pop_back();
    if (!path.empty()) path.back().deepest_child = std::max(path.back().deepest_child, d);
  }
  for (const auto& entry : depth) reachable.insert(entry.first);
  return reachable;
}

void dismantle(std::vector<Value>& containers, const std::unordered_set<const void*>* keep) {
  std::vector<Value> graveyard;
  for (Value& v : containers) {
    if (keep != nullptr && keep->count(v.node()) != 0) continue;
    switch (v.kind()) {
      case Value::Kind::List:
      case Value::Kind::Tuple: {
        std::vector<Value>& items = v.mutable_items();
        std::move(items.begin(), items.end(), std::back_inserter(graveyard));
        items.clear();
        break;
      }
      case Value::Kind::Dict:
        for (auto& [k, x] : v.mutable_dict().take_items()) {
          graveyard.push_back(std::move(k));
          graveyard.push_back(std::move(x));
        }
        break;
      case Value::Kind::Object: {
        Object& o = v.mutable_object();
        graveyard.push_back(std::move(o.args));
        graveyard.push_back(std::move(o.state));
        o.args = Value();
        o.state = Value();
        std::move(o.list_items.begin(), o.list_items.end(), std::back_inserter(graveyard));
        o.list_items.clear();
        for (auto& [k, x] : o.dict_items.take_items()) {
          graveyard.push_back(std::move(k));
          graveyard.push_back(std::move(x));
        }
        break;
      }
      default: break;
    }
  }
  // Every container not kept is empty now, so each node freed below frees
  // nothing else; kept ones stay alive through their other handles.
  graveyard.clear();
  containers.clear();
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    // Overlong forms and code points past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += len;
  }
  return true;
}

}  // namespace tavce::io::pickle_detail
