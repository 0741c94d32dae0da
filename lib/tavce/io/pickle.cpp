// The opcode loop of the unpickler (see pickle.h). It follows CPython's
// pickle machine: a value stack, a stack of MARK positions that fences off
// the values above the latest mark, and a memo of shared objects.
#include "tavce/io/pickle.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tavce/error.h"
#include "tavce/io/little_endian.h"
#include "tavce/io/pickle_internal.h"

namespace tavce::io {

Value PickleHooks::persistent_load(const Value& pid) {
  throw Error("persistent id " + pid.repr() + " but this reader resolves none");
}

bool PickleHooks::call(const std::string&, const std::string&, const Value&, Value*) { return false; }

namespace {

using pickle_detail::build;
using pickle_detail::call_builtin;
using pickle_detail::py3_module;

// Text opcodes (GLOBAL, INT, ...) end at a newline; real ones are short.
constexpr size_t kMaxLine = 64 * 1024;
// Decimal ints past int64 (protocol 0/1 LONG) are converted in quadratic
// time, so their length is capped well below anything hostile.
constexpr size_t kMaxDecimalDigits = 1000;

// An int from n bytes of little-endian two's complement: int64 when it fits,
// else a BigInt of the minimal bytes.
Value int_from_le(const uint8_t* p, size_t n) {
  // Drop sign-extension bytes that carry no information.
  while (n > 1 && ((p[n - 1] == 0x00 && !(p[n - 2] & 0x80)) || (p[n - 1] == 0xFF && (p[n - 2] & 0x80)))) --n;
  if (n == 0) return Value::integer(0);
  if (n <= 8) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    if (n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return Value::integer(static_cast<int64_t>(v));
  }
  return Value::big_integer(std::string(reinterpret_cast<const char*>(p), n));
}

// "[-]digits" of any size (Python 2 text ints may carry a trailing 'L').
Value int_from_decimal(std::string text) {
  if (!text.empty() && text.back() == 'L') text.pop_back();
  int64_t small = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, small);
  if (ec == std::errc() && p == end && !text.empty()) return Value::integer(small);
  const bool negative = !text.empty() && text[0] == '-';
  const std::string digits = text.substr(negative ? 1 : 0);
  if (digits.empty() || digits.size() > kMaxDecimalDigits ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    throw Error("bad integer literal '" + text.substr(0, 40) + "'");
  std::vector<uint8_t> mag(1, 0);  // little-endian magnitude
  for (char c : digits) {
    unsigned carry = static_cast<unsigned>(c - '0');
    for (uint8_t& b : mag) {
      const unsigned v = b * 10u + carry;
      b = static_cast<uint8_t>(v);
      carry = v >> 8;
    }
    if (carry) mag.push_back(static_cast<uint8_t>(carry));
  }
  mag.push_back(0);  // room for the sign bit
  if (negative) {    // two's complement
    for (uint8_t& b : mag) b = static_cast<uint8_t>(~b);
    for (uint8_t& b : mag)
      if (++b != 0) break;
  }
  return int_from_le(mag.data(), mag.size());
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, PickleHooks* hooks, const UnpickleLimits& limits)
      : data_(data), size_(size), hooks_(hooks), limits_(limits) {}

  // Frees everything made so far without recursion. The result was checked
  // (acyclic, shallow) and stays alive through its own handle; everything
  // else (a failed parse, or values popped and dropped) may be cyclic or
  // deep and is emptied first. containers_ holds every container until then,
  // so releasing the stack and memo here frees nothing.
  ~Unpickler() {
    stack_.clear();
    memo_.clear();
    pickle_detail::dismantle(containers_, succeeded_ ? &reachable_ : nullptr);
  }

  size_t op_pos() const { return op_pos_; }
  uint8_t op() const { return op_; }

  UnpickleResult run() {
    while (true) {
      op_pos_ = pos_;
      op_ = read_u8();
      if (step()) break;
    }
    UnpickleResult r;
    r.value = std::move(result_);
    r.consumed = pos_;
    reachable_ = pickle_detail::check_tree(r.value);
    succeeded_ = true;
    return r;
  }

 private:
  // ---- input ----
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_)
      throw Error("needs " + std::to_string(n) + " bytes but only " + std::to_string(size_ - pos_) + " remain");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t read_u8() { return *take(1); }
  std::string read_string(uint64_t n) {
    const uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string read_line() {
    const size_t limit = std::min(size_ - pos_, kMaxLine);
    const void* nl = std::memchr(data_ + pos_, '\n', limit);
    if (nl == nullptr) throw Error("unterminated text argument");
    const size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    std::string s = read_string(n);
    pos_ += 1;
    return s;
  }
  // A text int; decimal conversion past int64 costs digits^2.
  Value decimal(const std::string& line) {
    charge(static_cast<uint64_t>(line.size()) * line.size() / 64);
    return int_from_decimal(line);
  }
  int64_t parse_int_line(const std::string& line) {
    const Value v = decimal(line);
    if (!v.is(Value::Kind::Int)) throw Error("integer literal '" + line.substr(0, 40) + "' is out of range here");
    return v.as_int();
  }
  std::string read_utf8(uint64_t n) {
    std::string s = read_string(n);
    if (!pickle_detail::valid_utf8(s)) throw Error("str is not valid UTF-8");
    return s;
  }

  // ---- stack ----
  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Value v) {
    count_value();
    if (v.is_container()) containers_.push_back(v);
    stack_.push_back(std::move(v));
  }
  // A value pushed that shares an existing node (DUP, GET).
  void push_shared(Value v) {
    count_value();
    stack_.push_back(std::move(v));
  }
  void count_value() {
    if (++values_ > limits_.max_values)
      throw Error("more than " + std::to_string(limits_.max_values) + " values: refused as a memory bomb");
  }

  // ---- work budget (UnpickleLimits::max_work) ----
  void charge(uint64_t units) {
    work_ += units;
    if (work_ > limits_.max_work)
      throw Error("more than " + std::to_string(limits_.max_work) + " units of copying work: refused as a time bomb");
  }
  // What handing `v` to a call, BUILD or SETITEM may copy or hash: its items
  // (one level: deeper ones are shared, not copied) and its text.
  static uint64_t cost_of(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::List:
      case Value::Kind::Tuple: return 1 + v.items().size();
      case Value::Kind::Dict: return 1 + 2 * v.as_dict().size();
      case Value::Kind::String: return 1 + v.as_string().size() / 64;
      case Value::Kind::Bytes: return 1 + v.as_bytes().size() / 64;
      case Value::Kind::Object: {
        const Object& o = v.as_object();
        return 1 + o.list_items.size() + 2 * o.dict_items.size();
      }
      default: return 1;
    }
  }
  void charge_items(const Value& args) {
    uint64_t units = cost_of(args);
    if (args.is(Value::Kind::Tuple))
      for (const Value& a : args.items()) units += cost_of(a);
    charge(units);
  }
  void charge_items(const std::vector<Value>& items) {
    uint64_t units = items.size();
    for (const Value& v : items) units += cost_of(v);
    charge(units);
  }
  Value pop() {
    if (stack_.size() <= fence()) throw Error("stack underflow");
    Value v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.size() <= fence()) throw Error("stack underflow");
    return stack_.back();
  }
  // The values above the latest mark, removing them and the mark.
  std::vector<Value> pop_mark() {
    if (marks_.empty()) throw Error("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value> out(std::make_move_iterator(stack_.begin() + m), std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return out;
  }
  std::vector<Value> pop_n(size_t n) {
    if (stack_.size() < fence() + n) throw Error("stack underflow");
    std::vector<Value> out(std::make_move_iterator(stack_.end() - n), std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    return out;
  }

  // ---- memo ----
  void memo_put(uint64_t index) {
    if (memo_.size() >= limits_.max_memo_entries && memo_.count(index) == 0)
      throw Error("more than " + std::to_string(limits_.max_memo_entries) + " memo entries: refused as a memory bomb");
    memo_[index] = top();
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) throw Error("memo entry " + std::to_string(index) + " was never stored");
    push_shared(it->second);
  }

  // ---- objects ----
  Value make_global(std::string module, std::string name) {
    return Value::object(py3_module(module), std::move(name), Value(), /*is_class_ref=*/true);
  }
  Value call(const Value& callable, const Value& args, bool newobj) {
    charge_items(args);
    if (hooks_ && callable.is(Value::Kind::Object) && callable.as_object().is_class_ref) {
      const Object& c = callable.as_object();
      Value out;
      if (hooks_->call(c.module, c.name, args, &out)) return out;
    }
    return call_builtin(callable, args, newobj);
  }
  Value persistent(const Value& pid) {
    if (!hooks_) return PickleHooks().persistent_load(pid);
    return hooks_->persistent_load(pid);
  }
  void append(Value& target, std::vector<Value> items) {
    charge(items.size());
    if (target.is(Value::Kind::List)) {
      auto& dst = target.mutable_items();
      for (Value& v : items) dst.push_back(std::move(v));
    } else if (target.is(Value::Kind::Object)) {
      auto& dst = target.mutable_object().list_items;
      for (Value& v : items) dst.push_back(std::move(v));
    } else {
      throw Error("APPEND to a " + target.type_name());
    }
  }
  void set_items(Value& target, std::vector<Value> kv) {
    charge_items(kv);
    if (kv.size() % 2 != 0) throw Error("SETITEMS with an odd number of values");
    Dict* d = nullptr;
    if (target.is(Value::Kind::Dict)) d = &target.mutable_dict();
    else if (target.is(Value::Kind::Object)) d = &target.mutable_object().dict_items;
    else throw Error("SETITEM on a " + target.type_name());
    for (size_t i = 0; i < kv.size(); i += 2) d->set(std::move(kv[i]), std::move(kv[i + 1]));
  }

  // Executes op_; returns true at STOP.
  bool step() {
    switch (op_) {
      case 0x80: {  // PROTO
        const uint8_t v = read_u8();
        if (v > 5) throw Error("pickle protocol " + std::to_string(v) + " is newer than 5");
        return false;
      }
      case 0x95: take(8); return false;  // FRAME: a read-ahead hint, nothing to do
      case '.': {                        // STOP
        result_ = pop();
        if (!stack_.empty() || !marks_.empty())
          throw Error("STOP with " + std::to_string(stack_.size()) + " values and " +
                      std::to_string(marks_.size()) + " marks left over");
        return true;
      }
      case '(': marks_.push_back(stack_.size()); return false;  // MARK
      case '0':                                                 // POP
        if (stack_.size() > fence()) stack_.pop_back();
        else pop_mark();
        return false;
      case '1': pop_mark(); return false;  // POP_MARK
      case '2': {                          // DUP
        Value v = top();
        push_shared(std::move(v));
        return false;
      }

      // ---- scalars ----
      case 'N': push(Value()); return false;
      case 0x88: push(Value::boolean(true)); return false;
      case 0x89: push(Value::boolean(false)); return false;
      case 'J': push(Value::integer(le::i32(take(4)))); return false;  // BININT
      case 'K': push(Value::integer(read_u8())); return false;          // BININT1
      case 'M': push(Value::integer(le::u16(take(2)))); return false;   // BININT2
      case 0x8a: push(make_long(read_u8())); return false;             // LONG1
      case 0x8b: {                                                     // LONG4
        const int32_t n = le::i32(take(4));
        if (n < 0) throw Error("negative LONG4 length");
        push(make_long(static_cast<uint64_t>(n)));
        return false;
      }
      case 'I': {  // INT (text); protocol 0 spells booleans I01 / I00
        const std::string line = read_line();
        if (line == "01" || line == "00") push(Value::boolean(line == "01"));
        else push(decimal(line));
        return false;
      }
      case 'L': push(decimal(read_line())); return false;  // LONG (text)
      case 'G': {                                                                  // BINFLOAT, big-endian
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = bits << 8 | p[i];
        double d;
        std::memcpy(&d, &bits, sizeof d);
        push(Value::floating(d));
        return false;
      }
      case 'F': {  // FLOAT (text)
        const std::string line = read_line();
        double d = 0;
        auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), d);
        if (ec != std::errc() || p != line.data() + line.size() || line.empty())
          throw Error("bad float literal '" + line + "'");
        push(Value::floating(d));
        return false;
      }

      // ---- strings ----
      case 'X': push(Value::string(read_utf8(le::u32(take(4))))); return false;   // BINUNICODE
      case 0x8c: push(Value::string(read_utf8(read_u8()))); return false;         // SHORT_BINUNICODE
      case 0x8d: push(Value::string(read_utf8(le::u64(take(8))))); return false;  // BINUNICODE8
      case 'T': {  // BINSTRING: a Python 2 str, which torch reads as text
        const int32_t n = le::i32(take(4));
        if (n < 0) throw Error("negative BINSTRING length");
        push(Value::string(read_string(static_cast<uint64_t>(n))));
        return false;
      }
      case 'U': push(Value::string(read_string(read_u8()))); return false;     // SHORT_BINSTRING
      case 'B': push(Value::bytes(read_string(le::u32(take(4))))); return false;  // BINBYTES
      case 'C': push(Value::bytes(read_string(read_u8()))); return false;          // SHORT_BINBYTES
      case 0x8e:                                                                    // BINBYTES8
      case 0x96: push(Value::bytes(read_string(le::u64(take(8))))); return false;  // BYTEARRAY8

      // ---- containers ----
      case ')': push(Value::tuple({})); return false;
      case 't': push(Value::tuple(pop_mark())); return false;
      case 0x85: push(Value::tuple(pop_n(1))); return false;
      case 0x86: push(Value::tuple(pop_n(2))); return false;
      case 0x87: push(Value::tuple(pop_n(3))); return false;
      case ']': push(Value::list()); return false;
      case 'l': push(Value::list(pop_mark())); return false;
      case '}': push(Value::dict()); return false;
      case 'd': {  // DICT from the marked key/value sequence
        Value d = Value::dict();
        set_items(d, pop_mark());
        push(std::move(d));
        return false;
      }
      case 0x8f: push(Value::object("builtins", "set", Value())); return false;  // EMPTY_SET
      case 0x91: {                                                                // FROZENSET
        Value s = Value::object("builtins", "frozenset", Value());
        s.mutable_object().list_items = pop_mark();
        push(std::move(s));
        return false;
      }
      case 0x90: {  // ADDITEMS
        std::vector<Value> items = pop_mark();
        Value& target = top();
        if (!target.is(Value::Kind::Object) || target.as_object().qualified_name() != "builtins.set")
          throw Error("ADDITEMS to a " + target.type_name());
        append(target, std::move(items));
        return false;
      }
      case 'a': {  // APPEND
        Value v = pop();
        append(top(), {std::move(v)});
        return false;
      }
      case 'e': {  // APPENDS
        std::vector<Value> items = pop_mark();
        append(top(), std::move(items));
        return false;
      }
      case 's': {  // SETITEM
        Value v = pop();
        Value k = pop();
        set_items(top(), {std::move(k), std::move(v)});
        return false;
      }
      case 'u': {  // SETITEMS
        std::vector<Value> kv = pop_mark();
        set_items(top(), std::move(kv));
        return false;
      }

      // ---- memo ----
      case 'q': memo_put(read_u8()); return false;                 // BINPUT
      case 'r': memo_put(le::u32(take(4))); return false;          // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); return false;             // MEMOIZE
      case 'p': memo_put(parse_index(read_line())); return false;  // PUT
      case 'h': memo_get(read_u8()); return false;                 // BINGET
      case 'j': memo_get(le::u32(take(4))); return false;          // LONG_BINGET
      case 'g': memo_get(parse_index(read_line())); return false;  // GET

      // ---- classes, calls, objects ----
      case 'c': {  // GLOBAL
        std::string module = read_line();
        std::string name = read_line();
        push(make_global(std::move(module), std::move(name)));
        return false;
      }
      case 0x93: {  // STACK_GLOBAL
        Value name = pop();
        Value module = pop();
        push(make_global(module.as_string(), name.as_string()));
        return false;
      }
      case 'R': {  // REDUCE
        Value args = pop();
        Value callable = pop();
        push(call(callable, args, false));
        return false;
      }
      case 0x81: {  // NEWOBJ
        Value args = pop();
        Value cls = pop();
        push(call(cls, args, true));
        return false;
      }
      case 0x92: {  // NEWOBJ_EX: keyword arguments only matter to __new__
        pop();
        Value args = pop();
        Value cls = pop();
        push(call(cls, args, true));
        return false;
      }
      case 'i': {  // INST (protocol 0)
        std::string module = read_line();
        std::string name = read_line();
        Value args = Value::tuple(pop_mark());
        push(call(make_global(std::move(module), std::move(name)), args, false));
        return false;
      }
      case 'o': {  // OBJ (protocol 1)
        std::vector<Value> items = pop_mark();
        if (items.empty()) throw Error("OBJ without a class");
        Value cls = items.front();
        items.erase(items.begin());
        push(call(cls, Value::tuple(std::move(items)), false));
        return false;
      }
      case 'b': {  // BUILD
        Value state = pop();
        charge(cost_of(state));
        build(top(), std::move(state));
        return false;
      }
      case 'Q': {  // BINPERSID
        Value pid = pop();
        push(persistent(pid));
        return false;
      }
      case 'P': push(persistent(Value::string(read_line()))); return false;  // PERSID

      case 0x82:
      case 0x83:
      case 0x84: throw Error("extension-registry opcodes (EXT1/2/4) are not supported");
      case 0x97:
      case 0x98: throw Error("out-of-band buffers (protocol 5) are not supported");
      case 'S':
      case 'V': throw Error("protocol 0 quoted strings are not supported");
      default: throw Error("unknown opcode");
    }
  }

  // LONG1/LONG4 payload: little-endian two's complement of n bytes.
  Value make_long(uint64_t n) {
    const uint8_t* p = take(n);
    return int_from_le(p, static_cast<size_t>(n));
  }
  uint64_t parse_index(const std::string& line) {
    const int64_t v = parse_int_line(line);
    if (v < 0) throw Error("negative memo index");
    return static_cast<uint64_t>(v);
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  PickleHooks* hooks_;
  UnpickleLimits limits_;
  size_t values_ = 0;
  uint64_t work_ = 0;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
  std::vector<Value> containers_;
  std::unordered_set<const void*> reachable_;
  Value result_;
  bool succeeded_ = false;
};

std::string opcode_text(uint8_t op) {
  char buf[24];
  if (op >= 0x20 && op < 0x7f) std::snprintf(buf, sizeof buf, "0x%02x '%c'", op, op);
  else std::snprintf(buf, sizeof buf, "0x%02x", op);
  return buf;
}

}  // namespace

UnpickleResult unpickle(const uint8_t* data, size_t size, const std::string& label, PickleHooks* hooks,
                        const UnpickleLimits& limits) {
  if (size > 0 && data == nullptr) throw Error(label + ": no data");
  Unpickler u(data, size, hooks, limits);
  try {
    return u.run();
  } catch (const Error& e) {
    throw Error(label + ": pickle byte " + std::to_string(u.op_pos()) + " (opcode " + opcode_text(u.op()) +
                "): " + e.what());
  }
}

}  // namespace tavce::io
