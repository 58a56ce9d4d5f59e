#include "agora/blackboard/result.hpp"

namespace agora::bb {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_key: return "invalid_key";
    case errc::invalid_value: return "invalid_value";
    case errc::limit_exceeded: return "limit_exceeded";
    case errc::invalid_argument: return "invalid_argument";
    case errc::invalid_contract: return "invalid_contract";
    case errc::type_mismatch: return "type_mismatch";
    case errc::compacted: return "compacted";
    case errc::future_revision: return "future_revision";
    case errc::conflict: return "conflict";
    case errc::forbidden: return "forbidden";
    case errc::unknown_agent: return "unknown_agent";
    case errc::contract_violation: return "contract_violation";
    case errc::duplicate_txn: return "duplicate_txn";
    case errc::watch_closed: return "watch_closed";
    case errc::io_error: return "io_error";
    case errc::corrupt: return "corrupt";
    case errc::unavailable: return "unavailable";
  }
  return "unknown_error";
}

std::string to_string(const error& e) {
  std::string out = to_string(e.code);
  out += ": ";
  out += e.message;
  return out;
}

}  // namespace agora::bb
