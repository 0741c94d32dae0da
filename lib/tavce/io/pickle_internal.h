// Pieces of the unpickler shared between its files; not a public API.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "tavce/io/pickle_value.h"

namespace tavce::io::pickle_detail {

// Python 2 module names as Python 3 knows them ("__builtin__" -> "builtins").
std::string py3_module(const std::string& module);

// The error text for a global outside the allow-list (pickle.h).
std::string not_allowed(const std::string& qualified_name);

// REDUCE (newobj false) or NEWOBJ (true) of `callable` with `args` once the
// hooks declined: dict-like classes become dicts, _codecs.encode (how protocol
// 2 pickles Python 3 bytes) becomes bytes, sets become builtins.set objects,
// argparse.Namespace an inert Object. Throws tavce::Error for any other
// callable (naming it) and for arguments the modelled callables reject.
Value call_builtin(const Value& callable, const Value& args, bool newobj);

// BUILD: gives `target` its state (an object's __dict__). Attributes of dicts,
// lists and tensors are dropped: nothing in a checkpoint needs them (torch's
// OrderedDict._metadata is one). Throws for targets Python would reject.
void build(Value& target, Value state);

// Throws tavce::Error unless the tree under `root` is acyclic, at most
// kMaxPickleDepth containers deep and holds no bare global (a class or
// function named but never called: none is on the allow-list as a value). Shared subtrees are visited once. Returns
// the nodes of every container reachable from root.
std::unordered_set<const void*> check_tree(const Value& root);

// Moves the children out of every container listed (except those in `keep`)
// and drops them all, so that freeing even a cyclic or very deep structure
// needs no recursion.
void dismantle(std::vector<Value>& containers, const std::unordered_set<const void*>* keep = nullptr);

// UTF-8 as Python decodes pickled str ("surrogatepass": lone surrogates allowed).
bool valid_utf8(const std::string& s);

}  // namespace tavce::io::pickle_detail
