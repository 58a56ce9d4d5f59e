#include "agora/blackboard/entry.hpp"

namespace agora::bb {

const char* to_string(op_kind k) noexcept {
  switch (k) {
    case op_kind::put: return "put";
    case op_kind::erase: return "erase";
    case op_kind::merge: return "merge";
    case op_kind::append: return "append";
  }
  return "unknown";
}

const std::string& entry::empty_string() noexcept {
  static const std::string s;
  return s;
}

const json& entry::null_json() noexcept {
  static const json j;
  return j;
}

}  // namespace agora::bb
