// The data-flow reviewer (docs/review.md, "reviewer/flow"): an abstract
// interpretation of each function of one translation unit, on the AST that
// clang prints (`clang -fsyntax-only -Xclang -ast-dump=json`).
//
// It follows values, not names: where a value comes from (input, rand(),
// an allocation that can fail, a constant at its type's limit), where it
// goes (a command, a format, an arithmetic operation, a divisor, an index,
// a dereference), and which checks dominate the use on the way. A use is a
// finding when a hazardous value reaches it on some path without the check
// that makes it safe:
//
//   untrusted text    -> system/popen/exec*            command injection (78)
//   untrusted text    -> the format of printf & co.    format string (134)
//   untrusted or limit integer -> + * ++ (no upper check)   overflow (190)
//   untrusted or limit integer -> - -- (no lower check)     underflow (191)
//   untrusted or zero -> divisor of / % (no zero check)     divide by zero (369)
//   untrusted integer -> array index (not both bounds)      bad index (129)
//   malloc/calloc/realloc result -> dereference (no NULL check)  (690)
//
// Paths: statements are interpreted in order with strong updates; the two
// arms of an if are joined (an arm whose condition is a constant is not
// taken), loops run their body twice, break/return/exit end a path.
// "Untrusted" is a may-fact (some path), a constant is a must-fact (every
// path). Checks refine the variable they compare in the arm they guard, and
// after `if (p == NULL) exit(...)` the rest of the function. Functions of
// the unit are analysed with summaries (the facts of each parameter over
// every call, of each return, of each global over every write), repeated
// until they settle. Aliases: references, `p = &x`, and fields (a struct's
// fields are the struct). Nothing outside the unit is known but the C
// library functions modelled below.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <cstdint>
#include <cctype>
#include <climits>
#include <cstring>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "review/review.hpp"

namespace agora::cli::review {

namespace {


// --- The tree we analyse: the main file's declarations, simplified --------

struct node {
  std::string kind;
  std::string id;
  std::string name;
  std::string opcode;
  std::string type;      // qualType
  std::string value;     // literals
  std::string ref_id;    // DeclRefExpr: the declaration
  std::string ref_kind;  // ... its kind (VarDecl, ParmVarDecl, FunctionDecl, EnumConstantDecl)
  std::string ref_name;
  std::string cast_kind;
  bool is_arrow = false;
  bool is_postfix = false;
  bool has_else = false;
  bool has_init = false;  // VarDecl: its last child is the initializer
  std::string storage;    // VarDecl: "static", "extern", ...
  bool empty = false;  // a null child ({} in clang's dump)
  long offset = -1;    // where it begins in the main file (expansion location)
  std::vector<node> kids;
};

// The top-level declarations of clang's JSON dump, found without parsing
// it: a scan of strings and brackets that also follows the "file" of every
// location (clang prints it only when it changes, in document order). A
// header's declaration is skipped at the speed of this scan; only the main
// file's are parsed (ast_builder). Fails (false) on text that is not
// well-formed at this level.
struct top_level_decl {
  std::size_t begin = 0, end = 0;  // the object's text [begin, end)
  std::string file_before;         // the file current before it
  std::string file;                // the file of its own location
};

bool scan_top_level(const std::string& text, std::vector<top_level_decl>& out, std::string& why) {
  const std::size_t n = text.size();
  std::size_t i = 0;
  std::string current;
  // Per open bracket: is it an object, and is it an "includedFrom" one.
  struct open_t {
    bool object;
    bool included;
  };
  std::vector<open_t> stack;
  std::string last_key;        // the last key read at any depth
  bool expect_value = false;   // after a key's ':'
  bool in_root_inner = false;  // the root's "inner" array is open
  std::size_t root_inner_depth = 0;
  top_level_decl cur;
  bool decl_open = false, decl_decided = false;
  auto read_string = [&](std::size_t& at, std::string* into) -> bool {
    // at is on the opening quote
    std::size_t j = at + 1;
    while (true) {
      const void* q = std::memchr(text.data() + j, '"', n - j);
      if (!q) return false;
      std::size_t k = static_cast<const char*>(q) - text.data();
      std::size_t bs = 0;
      while (k - bs > at + 1 && text[k - bs - 1] == '\\') ++bs;
      if (bs % 2 == 0) {
        if (into) into->assign(text, at + 1, k - at - 1);
        at = k + 1;
        return true;
      }
      j = k + 1;
    }
  };
  // The bytes that matter at this level; the rest (mostly indentation) is
  // skipped eight at a time when it is spaces.
  static const auto structural = [] {
    std::array<bool, 256> t{};
    for (unsigned char c : {'"', '{', '}', '[', ']', ','}) t[c] = true;
    return t;
  }();
  const char* data = text.data();
  while (i < n) {
    while (i + 8 <= n) {
      std::uint64_t w;
      std::memcpy(&w, data + i, 8);
      if (w != 0x2020202020202020ull) break;
      i += 8;
    }
    while (i < n && !structural[static_cast<unsigned char>(data[i])]) ++i;
    if (i >= n) break;
    const char c = text[i];
    if (c == '"') {
      std::string str;
      const bool want = !expect_value || last_key == "file" || last_key == "kind";
      const std::size_t start = i;
      if (!read_string(i, want ? &str : nullptr)) {
        why = "an unterminated string at byte " + std::to_string(start);
        return false;
      }
      std::size_t j = i;
      while (j < n && (text[j] == ' ' || text[j] == '\n' || text[j] == '\t' || text[j] == '\r')) ++j;
      if (!expect_value && j < n && text[j] == ':' && !stack.empty() && stack.back().object) {
        last_key = std::move(str);
        expect_value = true;
        i = j + 1;
        // The first key after its location: the declaration's file is known.
        if (decl_open && !decl_decided && stack.size() == root_inner_depth + 1 && last_key != "id" &&
            last_key != "kind" && last_key != "loc") {
          cur.file = current;
          decl_decided = true;
        }
        continue;
      }
      if (expect_value && last_key == "file" && !(stack.empty() || stack.back().included)) current = str;
      expect_value = false;
      continue;
    }
    if (c == '{' || c == '[') {
      const bool included = expect_value && last_key == "includedFrom";
      const bool root_inner = c == '[' && expect_value && last_key == "inner" && stack.size() == 1;
      stack.push_back({c == '{', included || (!stack.empty() && stack.back().included)});
      if (root_inner) {
        in_root_inner = true;
        root_inner_depth = stack.size();
      } else if (c == '{' && in_root_inner && stack.size() == root_inner_depth + 1) {
        cur = top_level_decl{};
        cur.begin = i;
        cur.file_before = current;
        decl_open = true;
        decl_decided = false;
      }
      expect_value = false;
      ++i;
      continue;
    }
    if (c == '}' || c == ']') {
      if (stack.empty() || stack.back().object != (c == '}')) {
        why = "an unmatched '" + std::string(1, c) + "' at byte " + std::to_string(i);
        return false;
      }
      if (c == '}' && decl_open && stack.size() == root_inner_depth + 1) {
        if (!decl_decided) cur.file = current;
        cur.end = i + 1;
        out.push_back(std::move(cur));
        decl_open = false;
      }
      if (c == ']' && in_root_inner && stack.size() == root_inner_depth) in_root_inner = false;
      stack.pop_back();
      expect_value = false;
      ++i;
      continue;
    }
    if (c == ',') expect_value = false;
    ++i;
  }
  if (!stack.empty()) {
    why = "the text ends inside an object";
    return false;
  }
  return true;
}

// Builds the main file's declarations straight from clang's JSON text
// (a SAX pass: the headers' declarations, most of the text, are never
// materialised). clang prints a location's "file" only when it differs
// from the one printed before, in document order, so every location is
// followed, also inside what is skipped; "includedFrom" names no location.
class ast_builder : public nlohmann::json_sax<nlohmann::json> {
 public:
  /// `current`: the file of the last location printed before the text.
  ast_builder(std::string main, std::string current) : main_(std::move(main)), current_(std::move(current)) {}
  std::vector<node> decls;
  std::string error;

  bool null() override { return scalar(std::string()); }
  bool boolean(bool v) override {
    if (top().c == ctx::node_obj && top().n) {
      if (key_ == "isArrow") top().n->is_arrow = v;
      else if (key_ == "isPostfix") top().n->is_postfix = v;
      else if (key_ == "hasElse") top().n->has_else = v;
    }
    return true;
  }
  bool number_integer(number_integer_t v) override { return number(static_cast<long>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(static_cast<long>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return scalar(std::to_string(v)); }
  bool string(string_t& v) override { return scalar(v); }
  bool binary(binary_t&) override { return true; }

  bool start_object(std::size_t) override {
    frame f{ctx::skip, nullptr, nullptr};
    if (st_.empty()) {
      f.c = ctx::root;
    } else {
      frame& t = top();
      switch (t.c) {
        case ctx::root_inner:
          decls.emplace_back();
          decls.back().empty = true;
          f = {ctx::node_obj, &decls.back(), nullptr};
          f.top_level = true;
          break;
        case ctx::node_inner:
          t.n->kids.emplace_back();
          t.n->kids.back().empty = true;
          f = {ctx::node_obj, &t.n->kids.back(), nullptr};
          break;
        case ctx::node_obj:
          if (key_ == "loc") f = {ctx::loc, nullptr, &t.n->offset};
          else if (key_ == "range") f = {ctx::range, t.n, nullptr};
          else if (key_ == "type") f = {ctx::type, t.n, nullptr};
          else if (key_ == "referencedDecl") f = {ctx::ref, t.n, nullptr};
          else f = {ctx::skip, nullptr, nullptr};
          break;
        case ctx::range:
          // The beginning of a node's range is where it is.
          f = {ctx::loc, nullptr, key_ == "begin" ? &t.n->offset : nullptr};
          break;
        case ctx::loc:
          if (key_ == "includedFrom") f = {ctx::included, nullptr, nullptr};
          else if (key_ == "expansionLoc") f = {ctx::loc, nullptr, t.offset};
          else f = {ctx::loc, nullptr, nullptr};  // spellingLoc
          break;
        case ctx::included:
          f = {ctx::included, nullptr, nullptr};
          break;
        default:
          f = {key_ == "includedFrom" ? ctx::included : ctx::skip, nullptr, nullptr};
          break;
      }
    }
    st_.push_back(f);
    return true;
  }
  bool end_object() override {
    frame f = st_.back();
    st_.pop_back();
    if (f.c == ctx::loc && f.offset && f.pending >= 0) *f.offset = f.pending;
    if (f.c == ctx::node_obj && f.top_level && !f.keep) decls.pop_back();
    if (f.c == ctx::skip && f.top_level && !decls.empty()) decls.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    frame f{ctx::skip_array, nullptr, nullptr};
    if (!st_.empty()) {
      frame& t = top();
      if (t.c == ctx::root && key_ == "inner") f.c = ctx::root_inner;
      else if (t.c == ctx::node_obj && key_ == "inner") f = {ctx::node_inner, t.n, nullptr};
    }
    st_.push_back(f);
    return true;
  }
  bool end_array() override {
    st_.pop_back();
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    frame& t = top();
    if (t.c == ctx::node_obj) {
      t.n->empty = false;
      // The location comes first: a declaration of a header is skipped.
      if (t.top_level && !t.decided && k != "id" && k != "kind" && k != "loc") decide(t);
    }
    return true;
  }
  bool parse_error(std::size_t at, const std::string&, const nlohmann::detail::exception& e) override {
    error = "at byte " + std::to_string(at) + ": " + e.what();
    return false;
  }

 private:
  enum class ctx { root, root_inner, node_obj, node_inner, loc, range, type, ref, included, skip, skip_array };
  struct frame {
    ctx c;
    node* n;
    long* offset;
    long pending = -1;
    bool top_level = false;
    bool decided = false;
    bool keep = false;
  };
  std::string main_, current_, key_;
  std::vector<frame> st_;

  frame& top() { return st_.back(); }

  void decide(frame& t) {
    t.decided = true;
    t.keep = current_ == main_;
    if (!t.keep) {
      // Skip the rest; the node is dropped when its object ends.
      t.c = ctx::skip;
      t.n = nullptr;
    }
  }

  bool number(long v) {
    frame& t = top();
    if (t.c == ctx::loc && key_ == "offset") t.pending = v;
    else if (t.c == ctx::node_obj && key_ == "value") t.n->value = std::to_string(v);
    return true;
  }

  bool scalar(const std::string& v) {
    frame& t = top();
    if (key_ == "file" && t.c != ctx::included && (t.c == ctx::loc || t.c == ctx::skip)) current_ = v;
    switch (t.c) {
      case ctx::node_obj:
        if (key_ == "kind") t.n->kind = v;
        else if (key_ == "id") t.n->id = v;
        else if (key_ == "name") t.n->name = v;
        else if (key_ == "opcode") t.n->opcode = v;
        else if (key_ == "value") t.n->value = v;
        else if (key_ == "castKind") t.n->cast_kind = v;
        else if (key_ == "init") t.n->has_init = true;
        else if (key_ == "storageClass") t.n->storage = v;
        break;
      case ctx::type:
        if (key_ == "qualType") t.n->type = v;
        break;
      case ctx::ref:
        if (key_ == "id") t.n->ref_id = v;
        else if (key_ == "kind") t.n->ref_kind = v;
        else if (key_ == "name") t.n->ref_name = v;
        break;
      default:
        break;
    }
    return true;
  }
};

// --- Facts ------------------------------------------------------------------

struct konst {
  enum kind_t { bottom, value, top } kind = bottom;
  double v = 0;
  static konst of(double x) { return {value, x}; }
  static konst unknown() { return {top, 0}; }
};

konst join(konst a, konst b) {
  if (a.kind == konst::bottom) return b;
  if (b.kind == konst::bottom) return a;
  if (a.kind == konst::value && b.kind == konst::value && a.v == b.v) return a;
  return konst::unknown();
}

struct fact {
  bool untrusted = false;  // may come from input (or rand())
  std::string origin;      // "getenv()", "rand()", ...
  int origin_line = 0;
  bool may_null = false;  // an allocation's unchecked result
  int null_line = 0;
  konst k;                // the value, when every path agrees
  // At its type's maximum (or a signed type's minimum) on some path.
  bool may_max = false, may_min = false;
  // Hazards not yet checked on some path: the value may exceed what an
  // upper bound check would stop, go below a lower one, be zero. Set by
  // input and by a type's limits, cleared by the check in the arm it guards.
  bool risk_up = false, risk_down = false, risk_zero = false;
  // Checks of a constant on every path (for hazards that are must-facts:
  // a zero divisor, an unsigned zero decremented).
  bool upper = false, lower = false, nonzero = false;
  // Declared without a value and not written since, on every path.
  bool uninit = false;
};

// The value comes from input (or rand()): every hazard is open.
void make_untrusted(fact& f, const std::string& origin, int line) {
  f.untrusted = true;
  f.origin = origin;
  f.origin_line = line;
  f.risk_up = f.risk_down = f.risk_zero = true;
}

fact join(const fact& a, const fact& b) {
  fact f;
  f.untrusted = a.untrusted || b.untrusted;
  f.origin = a.untrusted ? a.origin : b.origin;
  f.origin_line = a.untrusted ? a.origin_line : b.origin_line;
  f.may_null = a.may_null || b.may_null;
  f.null_line = a.may_null ? a.null_line : b.null_line;
  f.k = join(a.k, b.k);
  f.may_max = a.may_max || b.may_max;
  f.may_min = a.may_min || b.may_min;
  f.risk_up = a.risk_up || b.risk_up;
  f.risk_down = a.risk_down || b.risk_down;
  f.risk_zero = a.risk_zero || b.risk_zero;
  f.upper = a.upper && b.upper;
  f.lower = a.lower && b.lower;
  f.nonzero = a.nonzero && b.nonzero;
  f.uninit = a.uninit && b.uninit;
  return f;
}

bool same(const fact& a, const fact& b) {
  return a.untrusted == b.untrusted && a.may_null == b.may_null && a.k.kind == b.k.kind &&
         (a.k.kind != konst::value || a.k.v == b.k.v) && a.may_max == b.may_max && a.may_min == b.may_min &&
         a.upper == b.upper && a.lower == b.lower && a.nonzero == b.nonzero && a.risk_up == b.risk_up &&
         a.risk_down == b.risk_down && a.risk_zero == b.risk_zero && a.uninit == b.uninit;
}

fact constant(double v) {
  fact f;
  f.k = konst::of(v);
  return f;
}
fact unknown() {
  fact f;
  f.k = konst::unknown();
  return f;
}

struct state {
  bool dead = false;
  std::map<std::string, fact> vars;  // by declaration id
};

state join(const state& a, const state& b) {
  if (a.dead) return b;
  if (b.dead) return a;
  state s;
  for (const auto& [id, f] : a.vars) {
    auto it = b.vars.find(id);
    s.vars[id] = it == b.vars.end() ? join(f, unknown()) : join(f, it->second);
  }
  for (const auto& [id, f] : b.vars)
    if (!a.vars.count(id)) s.vars[id] = join(unknown(), f);
  return s;
}

// --- Types ------------------------------------------------------------------

// The type without qualifiers ("const", "volatile", a leading "signed").
std::string strip_type(const std::string& t) {
  std::istringstream in(t);
  std::string out, word;
  while (in >> word) {
    if (word == "const" || word == "volatile" || word == "signed") continue;
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

bool is_pointer_or_array(const std::string& t) {
  return t.find('*') != std::string::npos || t.find('[') != std::string::npos;
}

bool is_integer(const std::string& type) {
  if (is_pointer_or_array(type) || type.find('&') != std::string::npos) return false;
  static const std::set<std::string> names = {
      "char", "short", "int", "long", "long long", "unsigned char", "unsigned short", "unsigned int",
      "unsigned", "unsigned long", "unsigned long long", "short int", "long int", "long long int",
      "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "size_t",
      "ssize_t", "__int64", "unsigned __int64", "wchar_t"};
  return names.count(strip_type(type)) > 0;
}

bool is_unsigned(const std::string& type) {
  const std::string t = strip_type(type);
  return t.rfind("unsigned", 0) == 0 || t.rfind("uint", 0) == 0 || t == "size_t";
}

bool is_floating(const std::string& type) {
  const std::string t = strip_type(type);
  return t == "float" || t == "double" || t == "long double";
}

// The limits of an integer type (nullopt when unknown).
std::optional<std::pair<double, double>> limits(const std::string& type) {
  const std::string t = strip_type(type);
  if (t == "char" || t == "int8_t") return std::make_pair(double(CHAR_MIN), double(CHAR_MAX));
  if (t == "unsigned char" || t == "uint8_t") return std::make_pair(0.0, double(UCHAR_MAX));
  if (t == "short" || t == "short int" || t == "int16_t") return std::make_pair(double(SHRT_MIN), double(SHRT_MAX));
  if (t == "unsigned short" || t == "uint16_t") return std::make_pair(0.0, double(USHRT_MAX));
  if (t == "int" || t == "int32_t") return std::make_pair(double(INT_MIN), double(INT_MAX));
  if (t == "unsigned int" || t == "unsigned" || t == "uint32_t") return std::make_pair(0.0, double(UINT_MAX));
  if (t == "long" || t == "long int" || t == "long long" || t == "long long int" || t == "int64_t" ||
      t == "__int64" || t == "ssize_t")
    return std::make_pair(double(LLONG_MIN), double(LLONG_MAX));
  if (t == "unsigned long" || t == "unsigned long long" || t == "uint64_t" || t == "size_t" ||
      t == "unsigned __int64")
    return std::make_pair(0.0, double(ULLONG_MAX));
  return std::nullopt;
}

bool at_min(const fact& f, const std::string& type) {
  auto l = limits(type);
  return l && f.k.kind == konst::value && f.k.v <= l->first;
}

// A fact as a variable of `type` holds it: a negative constant stored in
// an unsigned variable wraps; a value at the type's limit is marked.
fact typed(fact f, const std::string& type) {
  auto l = limits(type);
  if (!l || f.k.kind != konst::value) return f;
  if (is_unsigned(type) && f.k.v < 0) f.k.v += l->second + 1;
  if (f.k.v >= l->second && !f.upper) f.may_max = f.risk_up = true;
  if (!is_unsigned(type) && f.k.v <= l->first && !f.lower) f.may_min = f.risk_down = true;
  return f;
}

// --- The library the analysis knows ----------------------------------------

bool one_of(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

// The argument index of the format, for printf-like functions; -1 if none.
int format_arg(const std::string& f) {
  if (one_of(f, {"printf", "vprintf", "wprintf", "vwprintf"})) return 0;
  if (one_of(f, {"fprintf", "vfprintf", "sprintf", "vsprintf", "fwprintf", "vfwprintf", "dprintf", "vdprintf",
                 "syslog", "vsyslog", "swprintf_s"}))
    return 1;
  if (one_of(f, {"snprintf", "vsnprintf", "swprintf", "vswprintf", "_snprintf", "_vsnprintf"})) return 2;
  return -1;
}

bool is_command(const std::string& f) {
  return one_of(f, {"system", "popen", "_popen", "_wpopen", "_wsystem", "execl", "execlp", "execle", "execv",
                    "execvp", "execve", "execvpe", "_execl", "_execlp", "_execv", "_execvp", "_wexecl",
                    "_wexeclp"});
}

// Functions that read (or write) through their first argument.
bool derefs_first(const std::string& f) {
  return one_of(f, {"strcpy", "strncpy", "strcat", "strncat", "memcpy", "memmove", "memset", "wcscpy",
                    "wcsncpy", "wcscat", "wcsncat", "wmemset", "wmemcpy", "wmemmove", "strlen", "wcslen",
                    "sprintf", "snprintf", "swprintf", "fgets", "fgetws", "strchr", "strcmp"});
}

bool noreturn(const std::string& f) {
  return one_of(f, {"exit", "_exit", "_Exit", "abort", "quick_exit", "__assert_fail", "longjmp", "terminate"});
}

// --- The interpreter --------------------------------------------------------

struct summary {
  std::map<std::size_t, fact> params;  // over every call
  std::map<std::size_t, fact> params_out;  // reference parameters at the end
  std::optional<fact> ret;
};

struct function_info {
  const node* decl = nullptr;
  const node* body = nullptr;
  std::vector<const node*> params;
};

class analysis {
 public:
  analysis(std::string file, const std::vector<long>& line_starts) : file_(std::move(file)), starts_(line_starts) {}

  void add_function(const node& fn) {
    if (fn.kind == "FunctionDecl") {
      auto [it, fresh] = by_name_.emplace(fn.name, fn.id);
      if (!fresh && it->second != fn.id) ambiguous_.insert(fn.name);
    }
    function_info fi;
    fi.decl = &fn;
    for (const auto& k : fn.kids) {
      if (k.kind == "ParmVarDecl") fi.params.push_back(&k);
      if (k.kind == "CompoundStmt") fi.body = &k;
    }
    if (fi.body) functions_[fn.id] = fi;
  }

  void add_global(const node& var) {
    fact f = constant(0);  // statics start zeroed
    if (var.has_init && !var.kids.empty()) {
      state s;
      f = eval(var.kids.back(), s);
    }
    globals_init_[var.id] = f;
    global_type_[var.id] = var.type;
    if (var.type.find("const") != std::string::npos) const_globals_.insert(var.id);
  }

  std::vector<finding> run() {
    for (int pass = 0; pass < 5; ++pass) {
      reporting_ = false;
      changed_ = false;
      globals_next_ = globals_init_;
      for (const auto& [id, fi] : functions_) analyse(id, fi);
      if (globals_next_.size() != globals_.size()) changed_ = true;
      for (const auto& [id, f] : globals_next_) {
        auto it = globals_.find(id);
        if (it == globals_.end() || !same(it->second, f)) changed_ = true;
      }
      globals_ = globals_next_;
      if (!changed_ && pass > 0) break;
    }
    reporting_ = true;
    globals_next_ = globals_init_;
    for (const auto& [id, fi] : functions_) analyse(id, fi);
    std::vector<finding> out;
    for (auto& [key, f] : found_) out.push_back(std::move(f));
    return out;
  }

 private:
  struct loop_ctx {
    std::vector<state> breaks;
    std::vector<state> continues;
    bool is_switch = false;
  };

  std::string file_;
  const std::vector<long>& starts_;
  std::map<std::string, function_info> functions_;
  std::map<std::string, summary> summaries_;
  std::map<std::string, std::string> by_name_;  // a defined function's id (prototypes name another)
  std::set<std::string> ambiguous_;
  std::map<std::string, fact> globals_init_, globals_, globals_next_;
  std::map<std::string, std::string> global_type_;
  std::set<std::string> const_globals_;
  // Per function being analysed.
  std::map<std::string, std::string> alias_;     // reference / pointer-to -> the variable
  std::map<std::string, std::string> fnptr_;     // variable -> function id
  std::map<std::string, std::string> var_type_;  // declaration id -> type
  std::vector<loop_ctx*> loops_;
  std::string current_;
  std::optional<fact> ret_;
  bool reporting_ = false;
  bool changed_ = false;
  std::map<std::pair<int, std::string>, finding> found_;

  // N of a type "T [N]"; 0 when not an array of known size.
  static long array_size(const std::string& type) {
    const auto a = type.find('[');
    if (a == std::string::npos) return 0;
    try {
      return std::stol(type.substr(a + 1));
    } catch (...) {
      return 0;
    }
  }

  int line_of(long offset) const {
    if (offset < 0 || starts_.empty()) return 1;
    auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    return static_cast<int>(it - starts_.begin());
  }

  void report(const node& at, const char* rule, int cwe, const char* severity, std::string message) {
    if (!reporting_) return;
    const int line = line_of(at.offset);
    auto key = std::make_pair(line, std::string(rule));
    if (found_.count(key)) return;
    finding f;
    f.file = file_;
    f.line = line;
    f.rule = rule;
    f.cwe = cwe;
    f.category = lookup_rule("flow", rule, "").family;
    if (f.category.empty()) f.category = "bug";
    f.severity = severity;
    f.message = std::move(message);
    found_[key] = std::move(f);
  }

  static std::string from(const fact& f) {
    if (f.origin.empty()) return "";
    return " (from " + f.origin + (f.origin_line ? " at line " + std::to_string(f.origin_line) : "") + ")";
  }

  // --- variables ---

  static const node* strip(const node* e) {
    while (e && !e->empty &&
           (e->kind == "ImplicitCastExpr" || e->kind == "ParenExpr" || e->kind == "CStyleCastExpr" ||
            e->kind == "CXXStaticCastExpr" || e->kind == "CXXFunctionalCastExpr" ||
            e->kind == "CXXReinterpretCastExpr" || e->kind == "CXXConstCastExpr" ||
            e->kind == "MaterializeTemporaryExpr" || e->kind == "ExprWithCleanups") &&
           !e->kids.empty())
      e = &e->kids[0];
    return e;
  }

  std::string resolve(std::string id) const {
    for (int i = 0; i < 8; ++i) {
      auto it = alias_.find(id);
      if (it == alias_.end()) break;
      id = it->second;
    }
    return id;
  }

  // The variable an lvalue expression names (fields are their struct,
  // elements their array, *p the variable p points to); "" if none.
  std::string var_of(const node* e) const {
    e = strip(e);
    if (!e || e->empty) return "";
    if (e->kind == "DeclRefExpr" && (e->ref_kind == "VarDecl" || e->ref_kind == "ParmVarDecl"))
      return resolve(e->ref_id);
    if (e->kind == "MemberExpr" && !e->kids.empty()) return var_of(&e->kids[0]);
    if (e->kind == "ArraySubscriptExpr" && !e->kids.empty()) return var_of(&e->kids[0]);
    if (e->kind == "UnaryOperator" && e->opcode == "*" && !e->kids.empty()) return var_of(&e->kids[0]);
    // pointer arithmetic: data + dataLen
    if (e->kind == "BinaryOperator" && (e->opcode == "+" || e->opcode == "-") && e->kids.size() == 2 &&
        is_pointer_or_array(e->type))
      return var_of(&e->kids[0]);
    return "";
  }

  // `*p` where p was declared as `&x`.
  bool alias_deref(const node& e) const {
    if (e.kind != "UnaryOperator" || e.opcode != "*" || e.kids.empty()) return false;
    const node* p = strip(&e.kids[0]);
    return p && p->kind == "DeclRefExpr" && alias_.count(p->ref_id) > 0;
  }

  // `x += ...`, `x++` on a variable that holds no value yet.
  void uninit_update(const node& at, const node& target, const fact& f) {
    const node* v = strip(&target);
    if (f.uninit && v && v->kind == "DeclRefExpr")
      report(at, "flow/uninitialized", 457, "high",
             "'" + v->ref_name + "' is updated before any value is stored in it, on every path");
  }

  bool is_global(const std::string& id) const { return globals_init_.count(id) > 0; }

  fact read(const std::string& id, const state& s) const {
    if (auto it = s.vars.find(id); it != s.vars.end()) return it->second;
    if (is_global(id)) {
      auto it = globals_.find(id);
      return it != globals_.end() ? it->second : globals_init_.at(id);
    }
    return unknown();
  }

  void write(const std::string& id, fact f, state& s) {
    if (id.empty()) return;
    if (auto t = type_of_var(id); !t.empty()) f = typed(std::move(f), t);
    f.uninit = false;  // it holds a value now
    if (is_global(id)) {
      auto& g = globals_next_[id];
      g = join(g, f);
    }
    s.vars[id] = std::move(f);
  }

  void taint(const std::string& id, const fact& src, state& s) {
    if (id.empty() || !src.untrusted) return;
    fact f = read(id, s);
    make_untrusted(f, src.origin, src.origin_line);
    f.k = konst::unknown();
    f.upper = f.lower = f.nonzero = false;
    write(id, f, s);
  }

  std::string type_of_var(const std::string& id) const {
    if (auto it = var_type_.find(id); it != var_type_.end()) return it->second;
    if (auto it = global_type_.find(id); it != global_type_.end()) return it->second;
    return "";
  }

  // --- conditions ---

  // Applies what `cond` being `truth` tells about variables.
  void refine(const node* cond, bool truth, state& s) {
    cond = strip(cond);
    if (!cond || cond->empty || s.dead) return;
    if (cond->kind == "BinaryOperator" && cond->opcode == "&&" && cond->kids.size() == 2) {
      if (truth) {
        refine(&cond->kids[0], true, s);
        refine(&cond->kids[1], true, s);
      }
      return;
    }
    if (cond->kind == "BinaryOperator" && cond->opcode == "||" && cond->kids.size() == 2) {
      if (!truth) {
        refine(&cond->kids[0], false, s);
        refine(&cond->kids[1], false, s);
      }
      return;
    }
    if (cond->kind == "UnaryOperator" && cond->opcode == "!" && !cond->kids.empty()) {
      refine(&cond->kids[0], !truth, s);
      return;
    }
    auto mark = [&](const std::string& id, bool up, bool low, bool nz, bool nn) {
      if (id.empty()) return;
      fact f = read(id, s);
      if (up) f.upper = true, f.risk_up = false;
      if (low) f.lower = true, f.risk_down = false;
      if (nz) f.nonzero = true, f.risk_zero = false;
      if (nn) f.may_null = false;
      s.vars[id] = f;
    };
    // A bare value: `if (p)`, `if (n)`.
    if (auto id = var_of(cond); !id.empty()) {
      if (truth) mark(id, false, false, true, true);
      return;
    }
    if (cond->kind != "BinaryOperator" || cond->kids.size() != 2) return;
    const std::string op = cond->opcode;
    if (!one_of(op, {"<", "<=", ">", ">=", "==", "!="})) return;
    // Which side is the variable; abs(x) bounds both sides.
    auto subject = [this](const node* e, bool& both) -> std::string {
      e = strip(e);
      both = false;
      if (e && e->kind == "CallExpr" && !e->kids.empty()) {
        const node* callee = strip(&e->kids[0]);
        if (callee && one_of(callee->ref_name, {"abs", "labs", "llabs", "fabs", "fabsf", "fabsl", "imaxabs"}) &&
            e->kids.size() > 1) {
          both = true;
          return var_of(&e->kids[1]);
        }
      }
      return var_of(e);
    };
    bool both_l = false, both_r = false;
    std::string l = subject(&cond->kids[0], both_l);
    std::string r = subject(&cond->kids[1], both_r);
    state scratch = s;
    const fact lv = eval(cond->kids[0], scratch), rv = eval(cond->kids[1], scratch);
    auto apply = [&](const std::string& id, bool both, std::string o, const fact& other) {
      if (id.empty()) return;
      // Normalise to "id o other" with the sense of `truth`.
      if (!truth) {
        static const std::map<std::string, std::string> neg = {{"<", ">="}, {"<=", ">"}, {">", "<="},
                                                                {">=", "<"}, {"==", "!="}, {"!=", "=="}};
        o = neg.at(o);
      }
      const bool other_zero = other.k.kind == konst::value && other.k.v == 0;
      const bool other_known = other.k.kind == konst::value;
      if (o == "!=") {
        mark(id, false, false, other_zero, other_zero);
      } else if (o == "<" || o == "<=") {
        const bool nz = other_known && (o == "<" ? other.k.v <= 0 : other.k.v < 0);
        mark(id, true, both, nz, false);
      } else if (o == ">" || o == ">=") {
        const bool nz = other_known && (o == ">" ? other.k.v >= 0 : other.k.v > 0);
        mark(id, both, true, nz || both, false);
      } else if (o == "==") {
        if (other_known) {
          fact f = read(id, s);
          f.upper = f.lower = true;
          f.risk_up = f.risk_down = false;
          if (other.k.v != 0) f.nonzero = true, f.risk_zero = false, f.may_null = false;
          s.vars[id] = f;
        }
      }
    };
    static const std::map<std::string, std::string> flip = {{"<", ">"}, {"<=", ">="}, {">", "<"},
                                                             {">=", "<="}, {"==", "=="}, {"!=", "!="}};
    apply(l, both_l, op, rv);
    apply(r, both_r, flip.at(op), lv);
  }

  // --- expressions ---

  fact call(const node& e, state& s) {
    const node* callee = strip(&e.kids[0]);
    std::string name, fn_id;
    if (callee && callee->kind == "DeclRefExpr") {
      if (callee->ref_kind == "FunctionDecl" || callee->ref_kind == "CXXMethodDecl") {
        name = callee->ref_name;
        fn_id = callee->ref_id;
        if (!functions_.count(fn_id) && !ambiguous_.count(name))
          if (auto it = by_name_.find(name); it != by_name_.end() && functions_.count(it->second))
            fn_id = it->second;
      } else if (auto it = fnptr_.find(resolve(callee->ref_id)); it != fnptr_.end()) {
        fn_id = it->second;
      }
    }
    std::vector<const node*> args;
    for (std::size_t i = 1; i < e.kids.size(); ++i) args.push_back(&e.kids[i]);
    std::vector<fact> av;
    for (const auto* a : args) av.push_back(eval(*a, s));
    const int line = line_of(e.offset);
    auto source = [&](const std::string& what) {
      fact f = unknown();
      make_untrusted(f, what + "()", line);
      return f;
    };
    // A function declared noreturn (GNU `__attribute__((noreturn))`, which
    // is part of its type, as projects' `pg_attribute_noreturn()` or
    // `NORETURN` macros expand to) ends the path like exit() does.
    if (callee && callee->type.find("__attribute__((noreturn))") != std::string::npos) {
      s.dead = true;
      return unknown();
    }
    if (!name.empty() && !functions_.count(fn_id)) {
      if (noreturn(name)) {
        s.dead = true;
        return unknown();
      }
      if (one_of(name, {"rand", "random", "lrand48", "mrand48"})) return source(name);
      if (one_of(name, {"getenv", "secure_getenv"})) return source(name);
      if (one_of(name, {"fgets", "fgetws", "gets", "fread", "read", "recv", "recvfrom", "getline", "fgetc"}) &&
          !args.empty()) {
        const std::size_t buf = one_of(name, {"read", "recv", "recvfrom"}) ? 1 : 0;
        if (buf < args.size()) taint(var_of(args[buf]), source(name), s);
        if (name == "fgetc") return source(name);
        return unknown();
      }
      if (one_of(name, {"fscanf", "scanf", "sscanf", "fwscanf", "wscanf", "swscanf"})) {
        const std::size_t first = name == "scanf" || name == "wscanf" ? 1 : 2;
        const bool from_input = name != "sscanf" && name != "swscanf" ? true : (!av.empty() && av[0].untrusted);
        if (from_input)
          for (std::size_t i = first; i < args.size(); ++i) {
            const node* a = strip(args[i]);
            if (a && a->kind == "UnaryOperator" && a->opcode == "&" && !a->kids.empty())
              taint(var_of(&a->kids[0]), source(name), s);
            else
              taint(var_of(a), source(name), s);
          }
        return unknown();
      }
      if (one_of(name, {"atoi", "atol", "atoll", "strtol", "strtoul", "strtoll", "strtoull", "atof", "strtod",
                        "strtof", "wcstol", "wcstoul", "_wtoi", "wtoi"})) {
        fact f = unknown();
        if (!av.empty() && av[0].untrusted) make_untrusted(f, av[0].origin, av[0].origin_line);
        return f;
      }
      if (one_of(name, {"strcpy", "strncpy", "strcat", "strncat", "memcpy", "memmove", "wcscpy", "wcsncpy",
                        "wcscat", "wcsncat", "wmemcpy", "wmemmove"}) &&
          args.size() >= 2) {
        check_null(*args[0], av[0], name, s);
        taint(var_of(args[0]), av[1], s);
        return av[0];
      }
      if (one_of(name, {"malloc", "calloc", "realloc"})) {
        fact f = unknown();
        f.may_null = true;
        f.null_line = line;
        return f;
      }
      if (derefs_first(name) && !args.empty()) check_null(*args[0], av[0], name, s);
      if (is_command(name)) {
        for (std::size_t i = 0; i < av.size(); ++i)
          if (av[i].untrusted && !is_integer(strip(args[i])->type)) {
            report(e, "flow/command-injection", 78, "high",
                   "untrusted text" + from(av[i]) + " reaches the command of " + name + "()");
            break;
          }
      }
      if (int fa = format_arg(name); fa >= 0 && static_cast<std::size_t>(fa) < args.size()) {
        const node* f = strip(args[fa]);
        if (f && f->kind != "StringLiteral" && av[fa].untrusted)
          report(e, "flow/format-string", 134, "high",
                 "untrusted text" + from(av[fa]) + " is the format of " + name + "()");
        if (one_of(name, {"sprintf", "snprintf", "vsprintf", "vsnprintf"}) && !args.empty())
          for (std::size_t i = fa + 1; i < av.size(); ++i) taint(var_of(args[0]), av[i], s);
      }
      return unknown();
    }
    if (!fn_id.empty() && functions_.count(fn_id)) {
      auto& sum = summaries_[fn_id];
      const auto& fi = functions_[fn_id];
      for (std::size_t i = 0; i < av.size() && i < fi.params.size(); ++i) {
        auto it = sum.params.find(i);
        fact merged = it == sum.params.end() ? av[i] : join(it->second, av[i]);
        if (it == sum.params.end() || !same(it->second, merged)) {
          sum.params[i] = merged;
          changed_ = true;
        }
        // A reference parameter writes back.
        if (fi.params[i]->type.find('&') != std::string::npos) {
          auto o = sum.params_out.find(i);
          write(var_of(args[i]), o != sum.params_out.end() ? o->second : unknown(), s);
        }
      }
      return sum.ret ? *sum.ret : unknown();
    }
    return unknown();
  }

  void check_null(const node& at, const fact& p, const std::string& how, state& s) {
    if (!p.may_null) return;
    report(at, "flow/unchecked-allocation", 690, "medium",
           "the result of an allocation" + std::string(p.null_line ? " at line " + std::to_string(p.null_line) : "") +
               " is used by " + how + " without a check for NULL");
    // Report once: the use itself proves nothing more.
    if (auto id = var_of(&at); !id.empty()) {
      fact f = read(id, s);
      f.may_null = false;
      s.vars[id] = f;
    }
  }

  void arithmetic(const node& e, const node& operand, const fact& f, bool up, bool down, state& s) {
    (void)s;
    const node* o = strip(&operand);
    if (!o || !is_integer(o->type) || var_of(o).empty()) return;
    const std::string type = o->type;
    const std::string var = o->ref_name.empty() ? "the value" : "'" + o->ref_name + "'";
    const fact t = typed(f, type);
    if (up && t.risk_up) {
      report(e, "flow/integer-overflow", 190, "medium",
             (t.untrusted ? "untrusted " + var + from(t) : var + " at its type's maximum") +
                 " can overflow here: no upper bound is checked");
      return;
    }
    // An unsigned value wraps below zero only when it is zero on every path.
    const bool at_bottom = is_unsigned(type) && !t.lower && at_min(t, type);
    if (down && (t.risk_down || at_bottom)) {
      report(e, "flow/integer-underflow", 191, "medium",
             (f.untrusted ? "untrusted " + var + from(f) : var + " at its type's minimum") +
                 " can wrap below its minimum here: no lower bound is checked");
    }
  }

  fact eval(const node& e, state& s) {
    if (e.empty) return unknown();
    const std::string& k = e.kind;
    if (k == "IntegerLiteral" || k == "FloatingLiteral" || k == "CharacterLiteral") {
      try {
        return constant(std::stod(e.value));
      } catch (...) {
        return unknown();
      }
    }
    if (k == "CXXBoolLiteralExpr") return unknown();
    if (k == "CXXNullPtrLiteralExpr" || k == "GNUNullExpr") return constant(0);
    if (k == "StringLiteral") return unknown();
    if (k == "DeclRefExpr") {
      if (e.ref_kind == "VarDecl" || e.ref_kind == "ParmVarDecl") {
        fact f = read(resolve(e.ref_id), s);
        return f;
      }
      if (e.ref_kind == "EnumConstantDecl") return unknown();
      return unknown();
    }
    if (k == "ImplicitCastExpr" || k == "ParenExpr" || k == "CStyleCastExpr" || k == "CXXStaticCastExpr" ||
        k == "CXXFunctionalCastExpr" || k == "CXXReinterpretCastExpr" || k == "CXXConstCastExpr" ||
        k == "MaterializeTemporaryExpr" || k == "ExprWithCleanups" || k == "ConstantExpr" ||
        k == "CXXBindTemporaryExpr") {
      if (e.kids.empty()) return unknown();
      if (e.kind == "ImplicitCastExpr" && e.cast_kind == "LValueToRValue") {
        const node* v = strip(&e.kids[0]);
        if (v && v->kind == "DeclRefExpr" && (v->ref_kind == "VarDecl" || v->ref_kind == "ParmVarDecl")) {
          const std::string id = resolve(v->ref_id);
          fact f = read(id, s);
          if (f.uninit) {
            report(e, "flow/uninitialized", 457, "high",
                   "'" + v->ref_name + "' is read before any value is stored in it, on every path");
            f.uninit = false;  // once
            s.vars[id] = f;
          }
          return f;
        }
      }
      fact f = eval(e.kids[0], s);
      // A conversion to bool or a narrower type keeps the facts but the
      // value's limits become the new type's.
      return f;
    }
    if (k == "UnaryOperator" && !e.kids.empty()) {
      const std::string& op = e.opcode;
      if (op == "++" || op == "--") {
        fact f = eval(e.kids[0], s);
        uninit_update(e, e.kids[0], f);
        arithmetic(e, e.kids[0], f, op == "++", op == "--", s);
        fact out = f;
        out.k = f.k.kind == konst::value ? konst::of(f.k.v + (op == "++" ? 1 : -1)) : konst::unknown();
        out.upper = out.lower = false;
        out.may_max = out.may_min = false;
        if (out.untrusted) make_untrusted(out, out.origin, out.origin_line);
        else out.risk_up = out.risk_down = out.risk_zero = false;
        write(var_of(&e.kids[0]), out, s);
        return out;
      }
      if (op == "*") {
        // *p with p = &x is x itself, not a dereference to check.
        if (alias_deref(e)) return read(var_of(&e), s);
        fact p = eval(e.kids[0], s);
        check_null(e.kids[0], p, "a dereference", s);
        return p;
      }
      if (op == "&") {
        // Whoever gets the address may store through it.
        eval(e.kids[0], s);
        if (auto id = var_of(&e.kids[0]); !id.empty()) {
          fact f = read(id, s);
          if (f.uninit) {
            f.uninit = false;
            f.k = konst::unknown();
            s.vars[id] = f;
          }
        }
        return unknown();
      }
      fact f = eval(e.kids[0], s);
      if (f.k.kind == konst::value) {
        if (op == "-") return constant(-f.k.v);
        if (op == "+") return f;
        if (op == "!") return constant(f.k.v == 0 ? 1 : 0);
      }
      fact out = unknown();
      if (f.untrusted) make_untrusted(out, f.origin, f.origin_line);
      return out;
    }
    if (k == "BinaryOperator" || k == "CompoundAssignOperator") {
      if (e.kids.size() != 2) return unknown();
      const std::string& op = e.opcode;
      if (op == "=") {
        fact r = eval(e.kids[1], s);
        const node* lhs = strip(&e.kids[0]);
        // A whole-variable write is a strong update; a field or an element
        // adds to what the variable holds.
        if (lhs && lhs->kind == "DeclRefExpr") {
          const node* rhs = strip(&e.kids[1]);
          if (rhs && rhs->kind == "DeclRefExpr" && rhs->ref_kind == "FunctionDecl")
            fnptr_[resolve(lhs->ref_id)] = rhs->ref_id;
          write(var_of(lhs), r, s);
        } else {
          const bool through_alias = lhs && alias_deref(*lhs);
          if (lhs && !through_alias &&
              (lhs->kind == "ArraySubscriptExpr" || lhs->kind == "MemberExpr" ||
               (lhs->kind == "UnaryOperator" && lhs->opcode == "*"))) {
            eval(*lhs, s);  // the checks of the access itself
          }
          const std::string id = var_of(lhs);
          if (!id.empty()) {
            if (through_alias) {
              write(id, r, s);  // *p = v, p = &x: x = v
            } else if (lhs->kind == "MemberExpr" && !lhs->is_arrow) {
              // A field of a local struct or union: the struct holds the
              // value, keeping what its other fields brought.
              fact old = read(id, s);
              fact f = r;
              if (old.untrusted && !f.untrusted) {
                make_untrusted(f, old.origin, old.origin_line);
              }
              write(id, f, s);
            } else {
              taint(id, r, s);
            }
          }
        }
        return r;
      }
      if (op == "&&" || op == "||") {
        fact l = eval(e.kids[0], s);
        state other = s;
        refine(&e.kids[0], op == "&&", other);
        fact r = eval(e.kids[1], other);
        s = join(s, other);
        if (l.k.kind == konst::value && r.k.kind == konst::value)
          return constant(op == "&&" ? (l.k.v != 0 && r.k.v != 0) : (l.k.v != 0 || r.k.v != 0));
        return unknown();
      }
      if (op == ",") {
        eval(e.kids[0], s);
        return eval(e.kids[1], s);
      }
      fact l = eval(e.kids[0], s);
      fact r = eval(e.kids[1], s);
      std::string bop = op;
      const bool compound = k == "CompoundAssignOperator";
      if (compound) bop = op.substr(0, op.size() - 1);
      if (compound) uninit_update(e, e.kids[0], l);
      if ((bop == "+" || bop == "*") && !is_pointer_or_array(e.type)) {
        arithmetic(e, e.kids[0], l, true, bop == "*", s);
        if (!compound) arithmetic(e, e.kids[1], r, true, bop == "*", s);
      } else if (bop == "-" && !is_pointer_or_array(e.type)) {
        arithmetic(e, e.kids[0], l, false, true, s);
      } else if (bop == "/" || bop == "%") {
        const node* d = strip(&e.kids[1]);
        const bool integral = d && is_integer(d->type);
        const bool zero = r.k.kind == konst::value && r.k.v == 0;
        if (d && (integral || is_floating(d->type)) && ((r.untrusted && r.risk_zero) || (zero && !r.nonzero)) &&
            !(d->kind == "IntegerLiteral" || d->kind == "FloatingLiteral")) {
          report(e, "flow/divide-by-zero", 369, "medium",
                 std::string(r.untrusted ? "an untrusted divisor" + from(r) : "a divisor that is zero") +
                     " is not checked against zero");
        }
      }
      fact out = unknown();
      if (l.k.kind == konst::value && r.k.kind == konst::value) {
        const double a = l.k.v, b = r.k.v;
        if (bop == "+") out = constant(a + b);
        else if (bop == "-") out = constant(a - b);
        else if (bop == "*") out = constant(a * b);
        else if (bop == "/" && b != 0) out = constant(std::trunc(a / b));
        else if (bop == "==") out = constant(a == b);
        else if (bop == "!=") out = constant(a != b);
        else if (bop == "<") out = constant(a < b);
        else if (bop == "<=") out = constant(a <= b);
        else if (bop == ">") out = constant(a > b);
        else if (bop == ">=") out = constant(a >= b);
      }
      const bool arith = one_of(bop, {"+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^"});
      if (arith && (l.untrusted || r.untrusted) && !is_pointer_or_array(e.type)) {
        make_untrusted(out, l.untrusted ? l.origin : r.origin, l.untrusted ? l.origin_line : r.origin_line);
      }
      if (compound) {
        fact w = out;
        if (w.k.kind != konst::value) w.k = konst::unknown();
        if (l.untrusted) {
          make_untrusted(w, l.origin, l.origin_line);
        }
        write(var_of(&e.kids[0]), w, s);
      }
      return out;
    }
    if (k == "ConditionalOperator" && e.kids.size() == 3) {
      fact c = eval(e.kids[0], s);
      if (c.k.kind == konst::value) return eval(e.kids[c.k.v != 0 ? 1 : 2], s);
      state a = s, b = s;
      refine(&e.kids[0], true, a);
      refine(&e.kids[0], false, b);
      fact x = eval(e.kids[1], a), y = eval(e.kids[2], b);
      s = join(a, b);
      return join(x, y);
    }
    if (k == "CallExpr" && !e.kids.empty()) return call(e, s);
    if (k == "ArraySubscriptExpr" && e.kids.size() == 2) {
      fact base = eval(e.kids[0], s);
      fact idx = eval(e.kids[1], s);
      check_null(e.kids[0], base, "an index", s);
      const node* i = strip(&e.kids[1]);
      const std::string base_var = var_of(&e.kids[0]);
      if (i && is_integer(i->type) && !idx.untrusted && !var_of(i).empty() && idx.k.kind == konst::value) {
        // A constant index (on every path) outside the array it indexes.
        const long n = array_size(type_of_var(base_var));
        if ((idx.k.v < 0 && !idx.lower) || (n > 0 && idx.k.v >= n && !idx.upper))
          report(e, "flow/index-out-of-bounds", 787, "high",
                 "index " + std::to_string(static_cast<long long>(idx.k.v)) + " is outside " +
                     (n > 0 ? "the array of " + std::to_string(n) : std::string("the array")));
      }
      if (i && is_integer(i->type) && idx.untrusted && !var_of(i).empty()) {
        const bool low_ok = !idx.risk_down || is_unsigned(i->type);
        const bool high_ok = !idx.risk_up;
        if (!(low_ok && high_ok))
          report(e, "flow/unchecked-index", 129, "high",
                 "an untrusted index" + from(idx) + " is used without " +
                     (low_ok ? std::string("an upper") : high_ok ? std::string("a lower") : std::string("a")) +
                     " bounds check");
      }
      fact out = base;
      out.may_null = false;
      out.k = konst::unknown();
      return out;
    }
    if (k == "MemberExpr" && !e.kids.empty()) {
      fact base = eval(e.kids[0], s);
      if (e.is_arrow) check_null(e.kids[0], base, "'->'", s);
      fact out = base;
      out.may_null = false;
      out.k = konst::unknown();
      return out;
    }
    if (k == "CXXNewExpr") {
      for (const auto& c : e.kids) eval(c, s);
      return unknown();
    }
    if (k == "InitListExpr") {
      fact out = unknown();
      for (const auto& c : e.kids) {
        fact f = eval(c, s);
        if (f.untrusted) out = join(out, f);
      }
      return out;
    }
    // Anything else: evaluate the children for their effects.
    for (const auto& c : e.kids) eval(c, s);
    return unknown();
  }

  // --- statements ---

  void declare(const node& d, state& s) {
    if (d.kind == "FunctionDecl") return;
    if (d.kind != "VarDecl") return;
    var_type_[d.id] = d.type;
    const node* init = d.has_init && !d.kids.empty() ? &d.kids.back() : nullptr;
    if (!init) {
      fact f = unknown();
      // A scalar local without a value (statics start at zero).
      const std::string t = strip_type(d.type);
      const bool scalar = is_integer(t) || is_floating(t) ||
                          (t.find('*') != std::string::npos && t.find('[') == std::string::npos &&
                           t.find('(') == std::string::npos);
      f.uninit = scalar && d.storage.empty();
      s.vars[d.id] = f;
      return;
    }
    // References and pointers to one variable are that variable.
    const node* i = strip(init);
    if (d.type.find('&') != std::string::npos && i) {
      const std::string target = var_of(i);
      if (!target.empty()) {
        alias_[d.id] = target;
        eval(*init, s);
        return;
      }
    }
    if (i && i->kind == "UnaryOperator" && i->opcode == "&" && !i->kids.empty()) {
      const node* t = strip(&i->kids[0]);
      if (t && t->kind == "DeclRefExpr" && (t->ref_kind == "VarDecl" || t->ref_kind == "ParmVarDecl")) {
        alias_[d.id] = resolve(t->ref_id);
        return;
      }
    }
    if (i && i->kind == "DeclRefExpr" && i->ref_kind == "FunctionDecl") {
      fnptr_[d.id] = i->ref_id;
      s.vars[d.id] = unknown();
      return;
    }
    fact f = eval(*init, s);
    if (d.type.find('[') != std::string::npos) {  // char buf[100] = "..."
      fact arr = unknown();
      if (f.untrusted) make_untrusted(arr, f.origin, f.origin_line);
      f = arr;
    }
    s.vars[d.id] = typed(f, d.type);
  }

  void exec(const node& st, state& s) {
    if (st.empty || s.dead) return;
    const std::string& k = st.kind;
    if (k == "CompoundStmt") {
      for (const auto& c : st.kids) exec(c, s);
      return;
    }
    if (k == "DeclStmt") {
      for (const auto& d : st.kids) declare(d, s);
      return;
    }
    if (k == "IfStmt") {
      // Children: [init] [condition variable] cond then [else]; clang's dump
      // leaves out the absent ones, so count from the end.
      const std::size_t n = st.kids.size();
      if (n < 2) return;
      const std::size_t cond_at = st.has_else ? n - 3 : n - 2;
      for (std::size_t i = 0; i < cond_at; ++i) {
        if (st.kids[i].kind == "VarDecl") declare(st.kids[i], s);
        else exec(st.kids[i], s);
      }
      const node& cond = st.kids[cond_at];
      fact c = eval(cond, s);
      if (s.dead) return;
      const bool known = c.k.kind == konst::value;
      state t = s, f = s;
      if (known && c.k.v == 0) t.dead = true;
      if (known && c.k.v != 0) f.dead = true;
      refine(&cond, true, t);
      refine(&cond, false, f);
      exec(st.kids[cond_at + 1], t);
      if (st.has_else) exec(st.kids[cond_at + 2], f);
      s = join(t, f);
      return;
    }
    if (k == "WhileStmt" || k == "ForStmt" || k == "DoStmt") {
      const node* init = nullptr;
      const node* cond = nullptr;
      const node* inc = nullptr;
      const node* body = nullptr;
      if (k == "WhileStmt" && st.kids.size() >= 2) {
        cond = &st.kids[st.kids.size() - 2];
        body = &st.kids.back();
      } else if (k == "DoStmt" && st.kids.size() >= 2) {
        body = &st.kids[0];
        cond = &st.kids[1];
      } else if (k == "ForStmt" && st.kids.size() == 5) {
        init = &st.kids[0];
        cond = &st.kids[2];
        inc = &st.kids[3];
        body = &st.kids[4];
      } else {
        return;
      }
      if (init) exec(*init, s);
      loop_ctx ctx;
      loops_.push_back(&ctx);
      state exit_state;
      exit_state.dead = true;
      state cur = s;
      for (int round = 0; round < 2; ++round) {
        state in = cur;
        bool always = false;
        if (k != "DoStmt" && cond && !cond->empty) {
          fact c = eval(*cond, in);
          always = c.k.kind == konst::value && c.k.v != 0;
          const bool never_true = c.k.kind == konst::value && c.k.v == 0;
          state out = in;
          refine(cond, false, out);
          if (!always) exit_state = join(exit_state, out);
          refine(cond, true, in);
          if (never_true) in.dead = true;
        } else if (k != "DoStmt") {
          always = true;  // for (;;)
        }
        if (body) exec(*body, in);
        for (const auto& c : ctx.continues) in = join(in, c);
        ctx.continues.clear();
        if (k == "DoStmt" && cond && !in.dead) {
          fact c = eval(*cond, in);
          const bool again = !(c.k.kind == konst::value && c.k.v == 0);
          state out = in;
          refine(cond, false, out);
          if (!(c.k.kind == konst::value && c.k.v != 0)) exit_state = join(exit_state, out);
          if (!again) in.dead = true;
        }
        if (inc && !inc->empty && !in.dead) eval(*inc, in);
        cur = join(cur, in);
      }
      loops_.pop_back();
      for (const auto& b : ctx.breaks) exit_state = join(exit_state, b);
      s = exit_state;
      return;
    }
    if (k == "SwitchStmt" && st.kids.size() >= 2) {
      eval(st.kids[st.kids.size() - 2], s);
      loop_ctx ctx;
      ctx.is_switch = true;
      loops_.push_back(&ctx);
      state before = s;
      state cur;
      cur.dead = true;
      bool has_default = false;
      const node& body = st.kids.back();
      auto run_case = [&](const node& c, auto& self) -> void {
        if (c.kind == "CaseStmt" || c.kind == "DefaultStmt") {
          if (c.kind == "DefaultStmt") has_default = true;
          cur = join(cur, before);
          if (!c.kids.empty()) self(c.kids.back(), self);
          return;
        }
        exec(c, cur);
      };
      if (body.kind == "CompoundStmt")
        for (const auto& c : body.kids) run_case(c, run_case);
      else
        run_case(body, run_case);
      loops_.pop_back();
      state out = cur;
      for (const auto& b : ctx.breaks) out = join(out, b);
      if (!has_default) out = join(out, before);
      s = out;
      return;
    }
    if (k == "BreakStmt") {
      if (!loops_.empty()) loops_.back()->breaks.push_back(s);
      s.dead = true;
      return;
    }
    if (k == "ContinueStmt") {
      for (auto it = loops_.rbegin(); it != loops_.rend(); ++it)
        if (!(*it)->is_switch) {
          (*it)->continues.push_back(s);
          break;
        }
      s.dead = true;
      return;
    }
    if (k == "ReturnStmt") {
      if (!st.kids.empty()) {
        fact r = eval(st.kids[0], s);
        ret_ = ret_ ? join(*ret_, r) : r;
      }
      s.dead = true;
      return;
    }
    if (k == "LabelStmt" || k == "CaseStmt" || k == "DefaultStmt" || k == "AttributedStmt") {
      if (!st.kids.empty()) exec(st.kids.back(), s);
      return;
    }
    if (k == "GotoStmt" || k == "NullStmt") return;  // Juliet-style forward jumps fall through
    if (k == "CXXTryStmt" && !st.kids.empty()) {
      state before = s;
      exec(st.kids[0], s);
      for (std::size_t i = 1; i < st.kids.size(); ++i) {
        state h = before;
        if (!st.kids[i].kids.empty()) exec(st.kids[i].kids.back(), h);
        s = join(s, h);
      }
      return;
    }
    eval(st, s);
  }

  void analyse(const std::string& id, const function_info& fi) {
    alias_.clear();
    fnptr_.clear();
    var_type_.clear();
    loops_.clear();
    current_ = id;
    ret_.reset();
    state s;
    auto& sum = summaries_[id];
    for (std::size_t i = 0; i < fi.params.size(); ++i) {
      var_type_[fi.params[i]->id] = fi.params[i]->type;
      auto it = sum.params.find(i);
      s.vars[fi.params[i]->id] = it == sum.params.end() ? unknown() : typed(it->second, fi.params[i]->type);
    }
    exec(*fi.body, s);
    for (std::size_t i = 0; i < fi.params.size(); ++i) {
      if (fi.params[i]->type.find('&') == std::string::npos) continue;
      fact out = read(fi.params[i]->id, s);
      auto o = sum.params_out.find(i);
      if (o == sum.params_out.end() || !same(o->second, out)) {
        sum.params_out[i] = out;
        changed_ = true;
      }
    }
    if (ret_ && (!sum.ret || !same(*sum.ret, *ret_))) {
      sum.ret = ret_;
      changed_ = true;
    }
  }
};

}  // namespace

namespace {

std::atomic<std::int64_t> analysis_ns{0};

std::int64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Adds the CPU time of its scope (this thread's) to analysis_ns.
struct cpu_meter {
  std::int64_t start = thread_cpu_ns();
  ~cpu_meter() { analysis_ns += thread_cpu_ns() - start; }
};

}  // namespace

double flow_analysis_cpu_seconds() { return static_cast<double>(analysis_ns.load()) / 1e9; }

bb::result<std::vector<finding>> analyse_clang_ast(const std::string& ast_json, const std::string& file,
                                                   const std::string& main_path, const std::string& text) {
  cpu_meter meter;
  auto refuse = [&](const std::string& why) {
    return bb::error{bb::errc::invalid_argument, "flow: " + file + ": clang's AST dump is not JSON (" +
                                                     std::to_string(ast_json.size()) + " bytes" +
                                                     (why.empty() ? "" : ", " + why) + ")"};
  };
  std::vector<top_level_decl> tops;
  std::string why;
  const auto first = ast_json.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || ast_json[first] != '{') return refuse("");
  if (!scan_top_level(ast_json, tops, why)) return refuse(why);
  std::vector<node> decls;
  for (const auto& t : tops) {
    if (t.file != main_path) continue;
    const std::string one = "{\"inner\":[" + ast_json.substr(t.begin, t.end - t.begin) + "]}";
    ast_builder builder(main_path, t.file_before);
    if (!nlohmann::json::sax_parse(one, &builder)) return refuse(builder.error);
    for (auto& d : builder.decls) decls.push_back(std::move(d));
  }
  std::vector<long> starts{0};
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') starts.push_back(static_cast<long>(i + 1));
  analysis a(file, starts);
  auto add = [&a](const node& d, auto& self) -> void {
    if (d.kind == "FunctionDecl" || d.kind == "CXXMethodDecl") a.add_function(d);
    else if (d.kind == "VarDecl") a.add_global(d);
    else if (d.kind == "NamespaceDecl" || d.kind == "LinkageSpecDecl" || d.kind == "CXXRecordDecl")
      for (const auto& k : d.kids) self(k, self);
  };
  for (const auto& d : decls) add(d, add);
  auto found = a.run();
  for (auto& f : found) {
    const std::size_t i = static_cast<std::size_t>(f.line - 1);
    if (i + 1 < starts.size() || i < starts.size()) {
      const long b = starts[i];
      const long e = i + 1 < starts.size() ? starts[i + 1] - 1 : static_cast<long>(text.size());
      std::string line = text.substr(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      f.evidence = line;
    }
  }
  return found;
}

}  // namespace agora::cli::review
