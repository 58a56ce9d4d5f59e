// The admin tool's command dispatcher.
// Known defect: one function does everything (handle_request): a
// cyclomatic complexity and nesting depth far over what anyone can review.
#include <string>

namespace admin {

struct request {
  std::string verb;
  std::string target;
  int level;
  bool force;
  bool dry_run;
};

// What a request does, as a status code.
int handle_request(const request& r) {
  int status = 0;
  if (r.verb == "start") {
    if (r.target.empty()) {
      status = 2;
    } else if (r.level > 0) {
      if (r.force) {
        if (!r.dry_run) {
          if (r.level > 3) {
            status = 10;
          } else {
            status = 11;
          }
        } else {
          status = 12;
        }
      } else {
        status = 13;
      }
    }
  } else if (r.verb == "stop") {
    if (r.force && r.level > 1) {
      status = 20;
    } else if (r.dry_run || r.target == "all") {
      status = 21;
    }
  } else if (r.verb == "restart") {
    for (int i = 0; i < r.level; ++i) {
      if (i % 2 == 0 && r.force) {
        status += 1;
      } else if (r.dry_run) {
        status -= 1;
      }
    }
  } else if (r.verb == "status") {
    status = r.level > 0 ? 30 : 31;
  } else {
    status = 1;
  }
  return status;
}

// Whether a verb is known.
bool known_verb(const std::string& verb) {
  return verb == "start" || verb == "stop" || verb == "restart" || verb == "status";
}

}  // namespace admin
